/** Pixel helpers shared by the clip tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { DecodedImage } from '../../src/image/load.js';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Mean absolute difference per channel between region `ra` of a and region `rb` (same size) of b. */
export function meanAbsDiff(a: DecodedImage, ra: Rect, b: DecodedImage, rb: Rect = { x: 0, y: 0, w: ra.w, h: ra.h }): number {
  let sum = 0;
  for (let j = 0; j < ra.h; j++) {
    for (let i = 0; i < ra.w; i++) {
      const pa = ((ra.y + j) * a.width + ra.x + i) * 3;
      const pb = ((rb.y + j) * b.width + rb.x + i) * 3;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[pa + c] - b.data[pb + c]);
    }
  }
  return sum / (ra.w * ra.h * 3);
}

export function pixel(img: DecodedImage, x: number, y: number): [number, number, number] {
  const p = (y * img.width + x) * 3;
  return [img.data[p], img.data[p + 1], img.data[p + 2]];
}

export function hexToRgb(hex: string): [number, number, number] {
  return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
}

/** Every channel within `tolerance` of the colour. */
export function near(p: readonly number[], colour: readonly number[], tolerance: number): boolean {
  return p.every((v, i) => Math.abs(v - colour[i]) <= tolerance);
}

/** Fraction of the pixels on a vertical segment x, y0..y1 (inclusive) that are within tolerance of the colour. */
export function columnFraction(img: DecodedImage, x: number, y0: number, y1: number, colour: readonly number[], tolerance: number): number {
  let hits = 0;
  for (let y = y0; y <= y1; y++) if (near(pixel(img, x, y), colour, tolerance)) hits++;
  return hits / (y1 - y0 + 1);
}

/** Same along a horizontal segment y, x0..x1. */
export function rowFraction(img: DecodedImage, y: number, x0: number, x1: number, colour: readonly number[], tolerance: number): number {
  let hits = 0;
  for (let x = x0; x <= x1; x++) if (near(pixel(img, x, y), colour, tolerance)) hits++;
  return hits / (x1 - x0 + 1);
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
