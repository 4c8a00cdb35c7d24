import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const SHARED_SEQUENCES = new URL('../../shared/data/tracks-dev/seqs/', import.meta.url).pathname;

/**
 * The shipped photos plus, when ../shared is present, frames of each tracking sequence: its first frame, and
 * with `middle` its middle frame too. Says so when ../shared is absent.
 */
export function benchImages(options: { middle?: boolean } = {}): string[] {
  const images = ['chelsea.png', 'coffee.png'].map((f) => new URL(`../fixtures/photos/${f}`, import.meta.url).pathname);
  if (!existsSync(SHARED_SEQUENCES)) {
    process.stdout.write(`(${SHARED_SEQUENCES} not found: the shipped photos only)\n`);
    return images;
  }
  for (const sequence of readdirSync(SHARED_SEQUENCES).sort()) {
    const frames = readdirSync(join(SHARED_SEQUENCES, sequence)).filter((f) => f.endsWith('.jpg')).sort();
    const picked = options.middle ? [frames[0], frames[frames.length >> 1]] : [frames[0]];
    for (const frame of new Set(picked)) if (frame) images.push(join(SHARED_SEQUENCES, sequence, frame));
  }
  return images;
}
