import { describe, expect, it } from 'vitest';

import { boxAt, boxSegments, normaliseKeyframes, sendcmdScript, SINGLE_KEYFRAME_HOLD, trackSpan } from '../../src/clip/box-track.js';
import { boxThickness, escapeFilterValue } from '../../src/clip/clip.js';
import { ClipError } from '../../src/clip/errors.js';
import type { Box } from '../../src/detect/box.js';

const A: Box = [140, 170, 260, 290];
const B: Box = [240, 120, 360, 240];
const C: Box = [300, 100, 380, 160];

describe('boxSegments / boxAt', () => {
  const segments = boxSegments([
    { t: 3, box: B },
    { t: 2, box: A },
    { t: 4, box: C },
  ]);

  it('interpolates linearly between consecutive keyframes', () => {
    expect(boxAt(segments, 2)).toEqual(A);
    expect(boxAt(segments, 3)).toEqual(B);
    expect(boxAt(segments, 2.5)).toEqual([190, 145, 310, 265]);
    expect(boxAt(segments, 3.25)).toEqual([255, 115, 365, 220]);
  });

  it('holds the first/last box for half the neighbouring interval, then shows nothing', () => {
    expect(boxAt(segments, 1.6)).toEqual(A);
    expect(boxAt(segments, 1.5)).toEqual(A);
    expect(boxAt(segments, 1.49)).toBeNull();
    expect(boxAt(segments, 4.5)).toEqual(C);
    expect(boxAt(segments, 4.51)).toBeNull();
    expect(trackSpan(segments)).toEqual([1.5, 4.5]);
  });

  it('shows a lone keyframe for SINGLE_KEYFRAME_HOLD either side', () => {
    const one = boxSegments([{ t: 10, box: A }]);
    expect(trackSpan(one)).toEqual([10 - SINGLE_KEYFRAME_HOLD, 10 + SINGLE_KEYFRAME_HOLD]);
    expect(boxAt(one, 10.2)).toEqual(A);
    expect(boxSegments([])).toEqual([]);
  });

  it('normalises boxes, lets a later duplicate time win and rejects malformed boxes', () => {
    expect(normaliseKeyframes([{ t: 1, box: [10, 20, 0, 5] }])).toEqual([{ t: 1, box: [0, 5, 10, 20] }]);
    expect(normaliseKeyframes([{ t: 1, box: A }, { t: 1, box: B }])).toEqual([{ t: 1, box: B }]);
    expect(() => normaliseKeyframes([{ t: Number.NaN, box: A }])).toThrow(ClipError);
    expect(() => normaliseKeyframes([{ t: 1, box: [0, 0, 0, 5] }])).toThrow(/no area/);
    expect(() => normaliseKeyframes([{ t: 1, box: [0, 0, 5] as unknown as Box }])).toThrow(ClipError);
  });
});

describe('sendcmdScript', () => {
  const segments = boxSegments([
    { t: 2, box: A },
    { t: 3, box: B },
  ]);

  /** Evaluates the script's expressions like ffmpeg would, at filter time T. */
  function evaluate(script: string, T: number): { x: number; y: number; w: number; h: number } | null {
    for (const line of script.trim().split('\n')) {
      const m = /^([\d.]+)-([\d.]+) (.*);$/.exec(line);
      if (!m) throw new Error(`bad line ${line}`);
      if (!(T >= Number(m[1]) && T < Number(m[2]))) continue;
      const values: Record<string, number> = {};
      for (const cmd of m[3].split(/, (?=\[expr\])/)) {
        const c = /^\[expr\] drawbox@box (\w) '(.*)'$/.exec(cmd);
        if (!c) throw new Error(`bad command ${cmd}`);
        values[c[1]] = new Function('T', 'floor', 'max', `return ${c[2]};`)(T, Math.floor, Math.max) as number;
      }
      return { x: values['x'], y: values['y'], w: values['w'], h: values['h'] };
    }
    return null;
  }

  it('writes one interval per segment, in filter time, with expressions linear in T', () => {
    const script = sendcmdScript(segments, { offset: 1.479, scaleX: 1, scaleY: 1, target: 'drawbox@box' });
    const lines = script.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^0\.021000-0\.521000 \[expr\] drawbox@box x '140', /);
    expect(lines[1]).toMatch(/^0\.521000-1\.521000 \[expr\] drawbox@box x 'floor\(/);
    // Source time 2.52 = filter time 1.041: x1 = 192, y1 = 144, 120 × 120.
    expect(evaluate(script, 2.52 - 1.479)).toEqual({ x: 192, y: 144, w: 120, h: 120 });
    expect(evaluate(script, 2 - 1.479)).toEqual({ x: 140, y: 170, w: 120, h: 120 });
    expect(evaluate(script, 3.3 - 1.479)).toEqual({ x: 240, y: 120, w: 120, h: 120 });
    expect(evaluate(script, 3.6 - 1.479)).toBeNull();
  });

  it('clips intervals at filter time 0 (sendcmd cannot parse negative times) and scales boxes', () => {
    const script = sendcmdScript(segments, { offset: 2.5, scaleX: 0.5, scaleY: 0.5, target: 'drawbox@box' });
    const lines = script.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0].startsWith('0.000000-0.500000 ')).toBe(true);
    expect(evaluate(script, 0)).toEqual({ x: 95, y: 73, w: 60, h: 60 });
    expect(sendcmdScript(segments, { offset: 10, scaleX: 1, scaleY: 1, target: 'drawbox@box' })).toBe('');
    expect(sendcmdScript(segments, { offset: 0, scaleX: 1, scaleY: 1, target: 'drawbox@box', until: 1 })).toBe('');
  });
});

describe('escapeFilterValue / boxThickness', () => {
  it('escapes for the option level, then the filtergraph level', () => {
    expect(escapeFilterValue('/tmp/a b/c.cmd')).toBe('/tmp/a b/c.cmd');
    expect(escapeFilterValue('a:b')).toBe('a\\\\:b');
    expect(escapeFilterValue("a'b")).toBe("a\\\\\\'b");
    expect(escapeFilterValue('a,b;c[d]')).toBe('a\\,b\\;c\\[d\\]');
    expect(escapeFilterValue('a\\b')).toBe('a\\\\\\\\b');
  });

  it('scales the line with the frame, 2 to 8 px', () => {
    expect(boxThickness(320, 240)).toBe(2);
    expect(boxThickness(640, 360)).toBe(3);
    expect(boxThickness(1920, 1080)).toBe(8);
  });
});
