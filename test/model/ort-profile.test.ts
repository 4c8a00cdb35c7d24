import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/model/onnx/builder.js';
import { dropFirstRuns, profileRuns, summariseProfile, type ProfileEvent } from '../../src/model/ort-profile.js';

const node = (name: string, op: string, provider: string, dur: number): ProfileEvent => ({ cat: 'Node', name: `${name}_kernel_time`, dur, args: { op_name: op, provider } });
const run = (dur: number): ProfileEvent => ({ cat: 'Session', name: 'model_run', dur });

describe('ONNX Runtime profile summary', () => {
  it('sums kernel time per operator type and provider, per run, and ranks nodes', () => {
    const events: ProfileEvent[] = [
      node('Conv_1', 'Conv', 'CUDAExecutionProvider', 3000),
      node('Conv_2', 'Conv', 'CUDAExecutionProvider', 1000),
      node('Shape_3', 'Shape', 'CPUExecutionProvider', 200),
      { cat: 'Node', name: 'Conv_1_fence_before', dur: 999, args: { op_name: 'Conv', provider: 'CUDAExecutionProvider' } },
      run(5000),
      node('Conv_1', 'Conv', 'CUDAExecutionProvider', 5000),
      node('Conv_2', 'Conv', 'CUDAExecutionProvider', 1000),
      node('Shape_3', 'Shape', 'CPUExecutionProvider', 600),
      run(7000),
    ];
    const profile = summariseProfile(events, 2, 2);
    expect(profile.runMs).toEqual([5, 7]);
    expect(profile.kernelMsPerRun).toEqual({ CUDA: 5, CPU: 0.4 });
    expect(profile.operators).toEqual([
      { op: 'Conv', provider: 'CUDA', nodes: 2, calls: 4, msPerRun: 5 },
      { op: 'Shape', provider: 'CPU', nodes: 1, calls: 2, msPerRun: 0.4 },
    ]);
    expect(profile.slowestNodes).toEqual([
      { node: 'Conv_1', op: 'Conv', provider: 'CUDA', msPerRun: 4 },
      { node: 'Conv_2', op: 'Conv', provider: 'CUDA', msPerRun: 1 },
    ]);
  });

  it('drops the events of the first runs (a run ends with its model_run event)', () => {
    const events = [node('A', 'Relu', 'CPU', 1), run(1), node('A', 'Relu', 'CPU', 2), run(2), node('A', 'Relu', 'CPU', 3), run(3)];
    expect(dropFirstRuns(events, 0)).toEqual(events);
    expect(dropFirstRuns(events, 2)).toEqual([node('A', 'Relu', 'CPU', 3), run(3)]);
    expect(dropFirstRuns(events, 3)).toEqual([]);
    expect(dropFirstRuns(events, 4)).toEqual([]);
  });

  it("profiles a real session's runs after one unprofiled-in-the-summary run per feed", async () => {
    const b = new GraphBuilder('tiny');
    const x = b.input('x', [1, 'n']);
    b.output('y', b.op('Add', [b.op('Relu', [x], 'r'), b.scalar('one', 1)], 'y'), [1, 'n']);
    const dir = await mkdtemp(join(tmpdir(), 'dasr-profile-test-'));
    const file = join(dir, 'tiny.onnx');
    await writeFile(file, b.toModel());
    const feeds = [4, 9].map((n) => ({ x: new ort.Tensor('float32', new Float32Array(n).fill(-1), [1, n]) }));
    const profile = await profileRuns(file, { executionProviders: ['cpu'] }, feeds, 3);
    expect(profile.runs).toBe(3);
    expect(profile.runMs).toHaveLength(3);
    expect(profile.operators.map((o) => [o.op, o.provider, o.nodes, o.calls]).sort()).toEqual([
      ['Add', 'CPU', 1, 3],
      ['Relu', 'CPU', 1, 3],
    ]);
    expect(profile.wallMsPerRun).toBeGreaterThan(0);
    await rm(dir, { recursive: true, force: true });
  });
});
