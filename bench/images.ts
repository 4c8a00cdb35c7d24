import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const SHARED_SEQUENCES = new URL('../../shared/data/tracks-dev/seqs/', import.meta.url).pathname;

/**
 * The shipped photos plus, when ../shared is present, `perSequence` evenly spaced frames of each tracking sequence
 * (default 1: its first frame; 2: its first and middle frames). Says so when ../shared is absent.
 */
export function benchImages(options: { perSequence?: number } = {}): string[] {
  const perSequence = options.perSequence ?? 1;
  const images = ['chelsea.png', 'coffee.png'].map((f) => new URL(`../fixtures/photos/${f}`, import.meta.url).pathname);
  if (!existsSync(SHARED_SEQUENCES)) {
    process.stdout.write(`(${SHARED_SEQUENCES} not found: the shipped photos only)\n`);
    return images;
  }
  for (const sequence of readdirSync(SHARED_SEQUENCES).sort()) {
    const frames = readdirSync(join(SHARED_SEQUENCES, sequence)).filter((f) => f.endsWith('.jpg')).sort();
    const picked = Array.from({ length: perSequence }, (_, i) => frames[Math.floor((i * frames.length) / perSequence)]);
    for (const frame of new Set(picked)) if (frame) images.push(join(SHARED_SEQUENCES, sequence, frame));
  }
  return images;
}
