import { describe, expect, it } from 'vitest';
import type { Conv2DLayer, InputLayer, Layer, LayerGraph } from '../../src/model/layer-graph.js';
import {
  referenceForward,
  referenceTopDown,
  referenceTopDownSignal,
  saliencyFromInputSignal,
  type Signal3,
  type Tensor3,
} from '../support/reference-net.js';

// --- tiny builders -------------------------------------------------------------------------------------

function tensor(channels: number, height: number, width: number, values: readonly number[]): Tensor3 {
  expect(values.length).toBe(channels * height * width);
  return { channels, height, width, data: Float32Array.from(values) };
}

function signal(channels: number, height: number, width: number, values: readonly number[]): Signal3 {
  expect(values.length).toBe(channels * height * width);
  return { channels, height, width, data: Float64Array.from(values) };
}

function input(channels: number, name = 'in'): InputLayer {
  return { kind: 'input', name, channels };
}

function conv(
  name: string,
  from: string,
  o: {
    filters: number;
    inChannels: number;
    kernel: [number, number];
    weights: readonly number[];
    strides?: [number, number];
    padding?: 'valid' | 'same';
    bias?: readonly number[];
  },
): Conv2DLayer {
  return {
    kind: 'conv',
    name,
    input: from,
    filters: o.filters,
    inChannels: o.inChannels,
    kernel: o.kernel,
    strides: o.strides ?? [1, 1],
    padding: o.padding ?? 'valid',
    weights: Float32Array.from(o.weights),
    bias: o.bias ? Float32Array.from(o.bias) : null,
  };
}

function graph(...layers: Layer[]): LayerGraph {
  return { layers, input: layers[0]!.name, output: layers[layers.length - 1]!.name };
}

function t3(acts: Map<string, Tensor3 | Float32Array>, name: string): Tensor3 {
  const a = acts.get(name);
  if (a === undefined || a instanceof Float32Array) throw new Error(`no tensor "${name}"`);
  return a;
}

function values(a: Tensor3 | Float32Array | undefined): number[] {
  if (a === undefined) throw new Error('missing activation');
  return Array.from(a instanceof Float32Array ? a : a.data);
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let k = 0; k < expected.length; k++) {
    if (Math.abs(actual[k]! - expected[k]!) > tol) {
      throw new Error(`element ${k}: ${actual[k]} vs expected ${expected[k]} (tol ${tol})\nactual ${Array.from(actual).join(', ')}`);
    }
  }
}

const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);

/** Deterministic small integers in [lo, hi]. */
function ints(count: number, lo: number, hi: number, seed: number): number[] {
  let state = seed >>> 0;
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out.push(lo + (state >>> 8) % (hi - lo + 1));
  }
  return out;
}

/** A signal with value 1/C on every channel at each of the given positions. */
function seedSignal(shape: Tensor3, points: readonly { x: number; y: number }[]): Signal3 {
  const g = signal(shape.channels, shape.height, shape.width, new Array(shape.channels * shape.height * shape.width).fill(0));
  for (const p of points) {
    for (let c = 0; c < shape.channels; c++) g.data[(c * shape.height + p.y) * shape.width + p.x] += 1 / shape.channels;
  }
  return g;
}

const X3 = tensor(1, 3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]);

// --- forward -------------------------------------------------------------------------------------------

describe('referenceForward', () => {
  it('conv valid, OIHW layout, bias', () => {
    const g = graph(
      input(1),
      conv('c', 'in', { filters: 2, inChannels: 1, kernel: [2, 2], weights: [1, 2, 3, 4, 0, 0, 0, 1], bias: [1, 0] }),
    );
    const acts = referenceForward(g, X3);
    expect(acts.get('in')).toBe(X3);
    const c = t3(acts, 'c');
    expect([c.channels, c.height, c.width]).toEqual([2, 2, 2]);
    expect(values(c)).toEqual([38, 48, 68, 78, 5, 6, 8, 9]);
  });

  it("conv 'same' over two input channels", () => {
    const x = tensor(2, 3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    const w = [0, 0, 0, 0, 1, 0, 0, 0, 0, ...new Array(9).fill(1)];
    const g = graph(input(2), conv('c', 'in', { filters: 1, inChannels: 2, kernel: [3, 3], padding: 'same', weights: w }));
    // channel 0 through the centre tap, plus the number of in-bounds neighbours on channel 1
    expect(values(referenceForward(g, x).get('c'))).toEqual([5, 8, 7, 10, 14, 12, 11, 14, 13]);
  });

  it('conv stride 2 (3×3 and 1×1 kernels, leftover rows/cols unread)', () => {
    const x55 = tensor(1, 5, 5, Array.from({ length: 25 }, (_, k) => k));
    const g1 = graph(input(1), conv('c', 'in', { filters: 1, inChannels: 1, kernel: [3, 3], strides: [2, 2], weights: new Array(9).fill(1) }));
    expect(values(referenceForward(g1, x55).get('c'))).toEqual([54, 72, 144, 162]);

    const x45 = tensor(1, 4, 5, Array.from({ length: 20 }, (_, k) => 5 * Math.floor(k / 5) + (k % 5)));
    const g2 = graph(input(1), conv('c', 'in', { filters: 1, inChannels: 1, kernel: [1, 1], strides: [2, 2], weights: [2] }));
    const c = t3(referenceForward(g2, x45), 'c');
    expect([c.height, c.width]).toEqual([2, 3]);
    expect(values(c)).toEqual([0, 4, 8, 20, 24, 28]);
  });

  it('batchnorm (inference)', () => {
    const x = tensor(2, 2, 2, [1, 3, 5, 7, 0, 1, -2, 3]);
    const g = graph(input(2), {
      kind: 'batchnorm',
      name: 'bn',
      input: 'in',
      gamma: Float32Array.from([4, 1]),
      beta: Float32Array.from([1, -1]),
      mean: Float32Array.from([1, 0.5]),
      variance: Float32Array.from([3.25, 0.25]),
      epsilon: 0.75,
    });
    // ch0: 4(x−1)/2 + 1 = 2x − 1; ch1: (x − 0.5)/1 − 1
    expect(values(referenceForward(g, x).get('bn'))).toEqual([1, 5, 9, 13, -1.5, -0.5, -3.5, 1.5]);
  });

  it('zeropad [top, left, bottom, right]', () => {
    const g = graph(input(1), { kind: 'zeropad', name: 'p', input: 'in', pads: [1, 0, 2, 1] });
    const p = t3(referenceForward(g, tensor(1, 2, 2, [1, 2, 3, 4])), 'p');
    expect([p.height, p.width]).toEqual([5, 3]);
    expect(values(p)).toEqual([0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('maxpool (valid)', () => {
    const x = tensor(1, 4, 4, [1, 3, 2, 0, 5, 4, 1, 7, 0, 2, 9, 8, 6, 1, 3, 2]);
    const g = graph(
      input(1),
      { kind: 'maxpool', name: 'p2', input: 'in', pool: [2, 2], strides: [2, 2] },
      { kind: 'maxpool', name: 'p3', input: 'in', pool: [3, 3], strides: [2, 2] },
    );
    const acts = referenceForward(g, x);
    expect(values(acts.get('p2'))).toEqual([5, 7, 6, 9]);
    const p3 = t3(acts, 'p3');
    expect([p3.height, p3.width, ...values(p3)]).toEqual([1, 1, 9]);
  });

  it('relu, linear, add', () => {
    const g = graph(
      input(1),
      { kind: 'relu', name: 'r', input: 'in' },
      { kind: 'linear', name: 'l', input: 'in' },
      { kind: 'add', name: 'a', inputs: ['l', 'r'] },
    );
    const acts = referenceForward(g, tensor(1, 2, 2, [-1, 2, -3, 4]));
    expect(values(acts.get('r'))).toEqual([0, 2, 0, 4]);
    expect(values(acts.get('a'))).toEqual([-1, 4, -3, 8]);
  });

  it('gap, dense ([in, out] layout), softmax; upTo stops early', () => {
    const g = graph(
      input(2),
      { kind: 'gap', name: 'gap', input: 'in' },
      {
        kind: 'dense',
        name: 'fc',
        input: 'gap',
        units: 3,
        inUnits: 2,
        weights: Float32Array.from([1, 0, 2, 0, 1, -2]),
        bias: Float32Array.from([0, 0.5, 1]),
      },
      { kind: 'softmax', name: 'prob', input: 'fc' },
    );
    const x = tensor(2, 2, 2, [1, 2, 3, 4, 0, 0, 4, 4]);
    const acts = referenceForward(g, x);
    expect(values(acts.get('gap'))).toEqual([2.5, 2]);
    expect(values(acts.get('fc'))).toEqual([2.5, 2.5, 2]);
    const d = 2 * Math.exp(0.5) + 1;
    expectClose(values(acts.get('prob')), [Math.exp(0.5) / d, Math.exp(0.5) / d, 1 / d], 1e-7);

    const partial = referenceForward(g, x, 'gap');
    expect([...partial.keys()]).toEqual(['in', 'gap']);
  });
});

// --- top-down rules ------------------------------------------------------------------------------------

describe('referenceTopDown rules', () => {
  // x = [[1,2,0],[3,-1,2],[0,1,4]], m = −1, x − m = [[2,3,1],[4,0,3],[1,2,5]]
  // W = [[1,−1],[2,1]], W⁺ = [[1,0],[2,1]]  →  Z = [[10,6],[8,9]]
  const x = tensor(1, 3, 3, [1, 2, 0, 3, -1, 2, 0, 1, 4]);
  const g1 = graph(input(1), conv('c', 'in', { filters: 1, inChannels: 1, kernel: [2, 2], weights: [1, -1, 2, 1], bias: [100] }));

  it('conv: hand-computed g_in (negative weight dropped, bias ignored, overlapping windows summed)', () => {
    const acts = referenceForward(g1, x);
    const gIn = referenceTopDownSignal(g1, acts, 'c', signal(1, 2, 2, [1, 2, 3, 4]));
    // G = [[1/10, 2/6], [3/8, 4/9]]; g_in = (x − m) ⊙ convTranspose(G, W⁺)
    const expected = [0.2, 1, 0, 2.3, 0, 1, 0.75, 2 * (3 / 8 + 8 / 9), 20 / 9];
    expectClose(gIn.data, expected, 1e-9);
    expect(sum(gIn.data)).toBeCloseTo(10, 9);

    // seeded pass at (x=0, y=0): G = 1/10 on one output → 0.2 at (0,0), 0.8 at (1,0)
    const seeded = referenceTopDown(g1, acts, 'c', { x: 0, y: 0 });
    expect([seeded.channels, seeded.height, seeded.width]).toEqual([1, 3, 3]);
    expectClose(seeded.data, [0.2, 0, 0, 0.8, 0, 0, 0, 0, 0], 1e-7);
    expectClose(saliencyFromInputSignal(seeded), [0.2, 0, 0, 0.8, 0, 0, 0, 0, 0], 1e-7);
  });

  it('conv: G = 0 where Z < 1e-10, and G = g / (|Z| + 1e-10) otherwise', () => {
    const g = graph(input(1), conv('c', 'in', { filters: 1, inChannels: 1, kernel: [1, 1], weights: [1] }));
    const tiny = referenceForward(g, tensor(1, 1, 3, [0, 1e-11, 1e-9]));
    expect(Array.from(referenceTopDown(g, tiny, 'c', { x: 0, y: 0 }).data)).toEqual([0, 0, 0]); // Z = 0
    expect(Array.from(referenceTopDown(g, tiny, 'c', { x: 1, y: 0 }).data)).toEqual([0, 0, 0]); // Z = 1e-11
    const z = Math.fround(1e-9);
    const kept = referenceTopDownSignal(g, tiny, 'c', signal(1, 1, 3, [0, 0, 1]));
    expectClose(kept.data, [0, 0, z / (z + 1e-10)], 1e-15); // ≈ 0.909
  });

  it('batchnorm scales by γ/√(var+ε) (negative kept), relu masks by its input, zeropad crops, linear is identity', () => {
    const g = graph(
      input(2),
      {
        kind: 'batchnorm',
        name: 'bn',
        input: 'in',
        gamma: Float32Array.from([2, -3]),
        beta: Float32Array.from([0, 0]),
        mean: Float32Array.from([0, 0]),
        variance: Float32Array.from([3, 0]),
        epsilon: 1,
      },
      { kind: 'relu', name: 'r', input: 'bn' },
      { kind: 'zeropad', name: 'p', input: 'r', pads: [1, 0, 0, 1] },
      { kind: 'linear', name: 'l', input: 'p' },
    );
    const acts = referenceForward(g, tensor(2, 2, 2, [1, -1, 2, 0, 1, -1, 2, 0]));
    expect(values(acts.get('bn'))).toEqual([1, -1, 2, 0, -3, 3, -6, 0]);
    const gOut = signal(2, 3, 3, Array.from({ length: 18 }, (_, k) => k + 1));
    // crop: ch0 [4,5,7,8], ch1 [13,14,16,17]; relu mask ch0 [1,0,1,0], ch1 [0,1,0,0]; scale [1, −3]
    expectClose(referenceTopDownSignal(g, acts, 'l', gOut).data, [4, 0, 7, 0, 0, -42, 0, 0], 0); // (−0 == 0)
  });

  it('maxpool 3×3/2: shared argmax accumulates, ties go to the first maximum in row-major order', () => {
    // windows A (rows 0-2, cols 0-2), B (0-2, 2-4), C (2-4, 0-2), D (2-4, 2-4) all contain the 9 at (2,2).
    // B also has a 9 at (0,4), earlier in row-major order; C's 9 at (4,0) and D's 9 at (3,3) come after (2,2).
    // prettier-ignore
    const x = tensor(1, 5, 5, [
      1, 1, 1, 1, 9,
      1, 1, 1, 1, 1,
      1, 1, 9, 1, 1,
      1, 1, 1, 9, 1,
      9, 1, 1, 1, 1,
    ]);
    const g = graph(input(1), { kind: 'maxpool', name: 'p', input: 'in', pool: [3, 3], strides: [2, 2] });
    const acts = referenceForward(g, x);
    expect(values(acts.get('p'))).toEqual([9, 9, 9, 9]);
    const gIn = referenceTopDownSignal(g, acts, 'p', signal(1, 2, 2, [1, 2, 3, 4]));
    const expected = new Array(25).fill(0);
    expected[2 * 5 + 2] = 1 + 3 + 4;
    expected[0 * 5 + 4] = 2;
    expect(Array.from(gIn.data)).toEqual(expected);
  });

  it('branching: a tensor feeding two convs whose outputs are added receives the sum of both branches', () => {
    // x − m = x (min 0). Branch A: 1×1 conv, weight 2 → g_in = g where x > 0.
    // Branch B: 3×3 'same' all-ones → the output at the centre reads the whole image: g_in = g·x/Σx = x/36.
    const x = tensor(1, 3, 3, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const a = conv('a', 'in', { filters: 1, inChannels: 1, kernel: [1, 1], weights: [2] });
    const b = conv('b', 'in', { filters: 1, inChannels: 1, kernel: [3, 3], padding: 'same', weights: new Array(9).fill(1) });
    const g = graph(input(1), a, b, { kind: 'add', name: 'sum', inputs: ['a', 'b'] });
    const acts = referenceForward(g, x);
    const gIn = referenceTopDown(g, acts, 'sum', { x: 1, y: 1 });
    const expected = Array.from(x.data, (v) => v / 36);
    expected[4]! += 1;
    expectClose(gIn.data, expected, 1e-7);

    // the same as running each branch on its own and adding
    const alone = (layer: Conv2DLayer): Float64Array => {
      const gb = graph(input(1), layer);
      return referenceTopDownSignal(gb, referenceForward(gb, x), layer.name, seedSignal(t3(acts, 'sum'), [{ x: 1, y: 1 }])).data;
    };
    const both = referenceTopDownSignal(g, acts, 'sum', seedSignal(t3(acts, 'sum'), [{ x: 1, y: 1 }]));
    const [fromA, fromB] = [alone(a), alone(b)];
    expectClose(both.data, Array.from(fromA, (v, k) => v + fromB[k]!), 1e-15);

    // an add reading the same tensor twice gets the signal twice
    const twice = graph(input(1), { kind: 'add', name: 'dbl', inputs: ['in', 'in'] });
    const g2 = referenceTopDownSignal(twice, referenceForward(twice, x), 'dbl', signal(1, 3, 3, Array.from(x.data)));
    expect(Array.from(g2.data)).toEqual(Array.from(x.data, (v) => 2 * v));
  });
});

// --- properties ------------------------------------------------------------------------------------------

describe('referenceTopDown properties', () => {
  it('convs conserve the probability mass when every Z ≥ 1e-10; unread rows/cols get 0', () => {
    // channel 0 of the input is ≥ −2 while the global minimum −5 sits on channel 1, so (x − m) ≥ 3 on channel 0;
    // every filter has W = 1 on all channel-0 taps, so Z ≥ 27 for every output of c1.
    const xs = ints(3 * 10 * 12, -2, 3, 7);
    xs[1 * 120 + 17] = -5;
    const x = tensor(3, 10, 12, xs);
    const w1 = ints(4 * 3 * 9, -2, 2, 11);
    for (let o = 0; o < 4; o++) for (let k = 0; k < 9; k++) w1[o * 27 + k] = 1;
    const w2 = ints(2 * 4 * 9, -2, 2, 13);
    for (let o = 0; o < 2; o++) for (let k = 0; k < 9; k++) w2[o * 36 + k] = 1;
    const c1 = conv('c1', 'in', { filters: 4, inChannels: 3, kernel: [3, 3], strides: [2, 2], weights: w1, bias: [5, -5, 1, 0] });
    const c2 = conv('c2', 'c1', { filters: 2, inChannels: 4, kernel: [3, 3], padding: 'same', weights: w2 });
    const g = graph(input(3), c1, c2);
    const acts = referenceForward(g, x);
    expect([t3(acts, 'c1').height, t3(acts, 'c1').width]).toEqual([4, 5]); // reads rows 0..8, cols 0..10

    const relClose = (a: number, b: number) => expect(Math.abs(a - b) / Math.abs(b)).toBeLessThan(1e-9);
    const unreadZero = (s: Signal3) => {
      for (let c = 0; c < 3; c++) {
        for (let j = 0; j < 12; j++) expect(s.data[(c * 10 + 9) * 12 + j]).toBe(0);
        for (let i = 0; i < 10; i++) expect(s.data[(c * 10 + i) * 12 + 11]).toBe(0);
      }
    };

    // single conv, arbitrary positive signal
    const gC1 = signal(4, 4, 5, ints(80, 1, 1000, 17).map((v) => v / 1000));
    const in1 = referenceTopDownSignal(g, acts, 'c1', gC1);
    relClose(sum(in1.data), sum(gC1.data));
    unreadZero(in1);

    // two convs in a chain (the second has 'same' padding on a map with negative values)
    const gC2 = signal(2, 4, 5, ints(40, 1, 1000, 19).map((v) => v / 1000));
    const in2 = referenceTopDownSignal(g, acts, 'c2', gC2);
    relClose(sum(in2.data), sum(gC2.data));
    unreadZero(in2);

    // seeded pass: a mass of 1 arrives at the input (float32 output)
    expect(sum(referenceTopDown(g, acts, 'c2', { x: 4, y: 3 }).data)).toBeCloseTo(1, 6);
  });

  it('is linear in the seed on a small residual net, ignores layers after `from`', () => {
    const bn = (name: string, from: string, gamma: number[]): Layer => ({
      kind: 'batchnorm',
      name,
      input: from,
      gamma: Float32Array.from(gamma),
      beta: Float32Array.from(ints(gamma.length, -2, 2, gamma.length + name.length)),
      mean: Float32Array.from(ints(gamma.length, -1, 1, 3 + name.length)),
      variance: Float32Array.from(gamma.map(() => 3)),
      epsilon: 1,
    });
    const g = graph(
      input(3),
      { kind: 'zeropad', name: 'pad', input: 'in', pads: [1, 1, 1, 1] },
      conv('stem', 'pad', { filters: 4, inChannels: 3, kernel: [3, 3], strides: [2, 2], weights: ints(108, -2, 2, 23), bias: [1, 0, -1, 2] }),
      bn('bn0', 'stem', [1, 2, -1, 3]),
      { kind: 'relu', name: 'r0', input: 'bn0' },
      { kind: 'maxpool', name: 'pool', input: 'r0', pool: [2, 2], strides: [1, 1] },
      conv('a', 'pool', { filters: 4, inChannels: 4, kernel: [1, 1], weights: ints(16, -1, 2, 29) }),
      bn('bnA', 'a', [2, 1, 1, -2]),
      { kind: 'relu', name: 'rA', input: 'bnA' },
      conv('b', 'rA', { filters: 4, inChannels: 4, kernel: [3, 3], padding: 'same', weights: ints(144, -2, 2, 31) }),
      bn('bnB', 'b', [1, 1, 2, 1]),
      { kind: 'add', name: 'add', inputs: ['bnB', 'pool'] },
      { kind: 'relu', name: 'out', input: 'add' },
      { kind: 'gap', name: 'gap', input: 'out' },
      { kind: 'dense', name: 'fc', input: 'gap', units: 3, inUnits: 4, weights: Float32Array.from(ints(12, -2, 2, 37)), bias: null },
      { kind: 'softmax', name: 'prob', input: 'fc' },
    );
    const acts = referenceForward(g, tensor(3, 12, 12, ints(432, -50, 50, 41)));
    const out = t3(acts, 'out');
    expect([out.channels, out.height, out.width]).toEqual([4, 5, 5]);
    expect(sum(values(acts.get('prob')))).toBeCloseTo(1, 6);

    const p = { x: 1, y: 1 };
    const q = { x: 3, y: 2 };
    const sp = referenceTopDownSignal(g, acts, 'out', seedSignal(out, [p])).data;
    const sq = referenceTopDownSignal(g, acts, 'out', seedSignal(out, [q])).data;
    const spq = referenceTopDownSignal(g, acts, 'out', seedSignal(out, [p, q])).data;
    expect(spq.length).toBe(3 * 12 * 12);
    const scale = Math.max(...Array.from(spq, Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(sp.some((v) => v !== 0) && sq.some((v) => v !== 0)).toBe(true);
    expectClose(spq, Array.from(sp, (v, k) => v + sq[k]!), 1e-12 * scale);

    // the seeded entry point is the float32 rounding of the same pass
    expect(Array.from(referenceTopDown(g, acts, 'out', p).data)).toEqual(Array.from(Float32Array.from(sp)));
  });
});
