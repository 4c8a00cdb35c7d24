import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Box } from '../detect/box.js';

/** One sequence of the tracks-dev layout (see ../shared/data/README.md): seqs/<name>/{NNNNNN.jpg, gt.json}. */
export interface TrackSequence {
  name: string;
  object: string;
  width: number;
  height: number;
  fps: number;
  directory: string;
  frames: { file: string; box: Box | null }[];
}

interface GroundTruthJson {
  name: string;
  object?: string;
  width: number;
  height: number;
  fps_assumed?: number;
  frames: { file: string; box: [number, number, number, number] | null }[];
}

/** Reads every sequence under `<root>/seqs`, boxes converted from [x, y, w, h] to [x1, y1, x2, y2]. */
export function readTrackSequences(root: string): TrackSequence[] {
  const seqs = join(root, 'seqs');
  if (!existsSync(seqs)) throw new Error(`${root} does not look like a tracks dataset: ${seqs} is missing`);
  return readdirSync(seqs)
    .sort()
    .map((name) => {
      const directory = join(seqs, name);
      const gt = JSON.parse(readFileSync(join(directory, 'gt.json'), 'utf8')) as GroundTruthJson;
      return {
        name: gt.name ?? name,
        object: gt.object ?? '',
        width: gt.width,
        height: gt.height,
        fps: gt.fps_assumed ?? 25,
        directory,
        frames: gt.frames.map((f) => ({ file: f.file, box: f.box ? ([f.box[0], f.box[1], f.box[0] + f.box[2], f.box[1] + f.box[3]] as Box) : null })),
      };
    });
}
