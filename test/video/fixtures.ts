/** Paths and ground truth of the video fixtures written by scripts/make-fixtures.ts. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'videos');

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Manifest {
  totalBytes: number;
  files: {
    'cfr-testsrc.mp4': { frameCount: number; keyframePts: number[]; duration: number };
    'vfr.mkv': { pts: number[]; frameCount: number; maxFrameDuration: number; minFrameDuration: number };
    'scene-cut.mp4': { cutTime: number; cutFrameIndex: number; frameCount: number; frameRate: number };
    'moving-object.mp4': {
      frameRate: number;
      frameCount: number;
      width: number;
      height: number;
      object: {
        visibleFrames: { first: number; last: number };
        boxes: Array<Box & { n: number; t: number }>;
        boxesEveryHalfSecond: Array<Box & { t: number; onFrame: boolean }>;
      };
      distractor: { box: Box };
    };
    'moving-object-query-scene.png': { box: Box; width: number; height: number };
    [name: string]: unknown;
  };
}

export const manifest: Manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as Manifest;

/** The moving object's true box [x1, y1, x2, y2] at time t (the fixture's own per-frame truth), or null when not visible. */
export function movingObjectBoxAt(t: number): [number, number, number, number] | null {
  const moving = manifest.files['moving-object.mp4'];
  const b = moving.object.boxes.find((box) => box.n === Math.round(t * moving.frameRate));
  return b ? [b.x, b.y, b.x + b.w, b.y + b.h] : null;
}
