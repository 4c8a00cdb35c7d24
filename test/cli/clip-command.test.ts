import { describe, expect, it } from 'vitest';
import { parseClipTarget } from '../../src/cli/clip-command.js';

describe('dasr clip targets', () => {
  it('reads a hit as track:<id> and a span as <video> <t0> <t1>', () => {
    expect(parseClipTarget(['track:12'])).toEqual({ track: 12 });
    expect(parseClipTarget(['3', '1.5', '4'])).toEqual({ video: 3, from: 1.5, to: 4 });
  });

  it('rejects anything else with the accepted forms', () => {
    for (const bad of [['12'], ['track:x'], ['3', '1'], ['3', 'a', '4'], ['1.5', '2', '3']]) {
      expect(() => parseClipTarget(bad)).toThrow(/track:<id> .* <video id> <t0> <t1>/);
    }
  });
});
