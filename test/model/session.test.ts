import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/model/onnx/builder.js';
import { createSession, parseDevice, providerUnavailableReason, sessionOptionsFor } from '../../src/model/session.js';
import { createLogger } from '../../src/log.js';

/** y = x · 2: the smallest model that proves a session really runs. */
function doublingModel(): Uint8Array {
  const b = new GraphBuilder('double');
  const x = b.input('x', [2]);
  b.output('y', b.op('Mul', [x, b.scalar('two', 2)], 'y_value'), [2]);
  return b.toModel();
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', (line) => lines.push(line)), lines };
}

async function runDoubling(session: ort.InferenceSession): Promise<number[]> {
  const result = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1.5, -2), [2]) });
  return Array.from(result.y!.data as Float32Array);
}

describe('execution provider selection', () => {
  it('runs on the CPU by default without a word', async () => {
    const { logger, lines } = capturingLogger();
    const { session, device } = await createSession(doublingModel(), { logger });
    expect(device).toBe('cpu');
    expect(await runDoubling(session)).toEqual([3, -4]);
    expect(lines.filter((l) => l.includes('warn'))).toEqual([]);
  });

  it('falls back to the CPU, saying so, when CUDA libraries are not installed', async () => {
    // This machine has no CUDA provider libraries (the npm install skips them), which is the case to prove.
    const { logger, lines } = capturingLogger();
    const { session, device } = await createSession(doublingModel(), { device: 'cuda', logger });
    expect(device).toBe('cpu');
    expect(await runDoubling(session)).toEqual([3, -4]);
    const warnings = lines.filter((l) => l.includes('warn'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/device cuda .*falling back to cpu/);
  });

  it('falls back to the CPU, saying so, when WebGPU has no adapter', async () => {
    const { logger, lines } = capturingLogger();
    const { session, device } = await createSession(doublingModel(), { device: 'webgpu', logger });
    expect(await runDoubling(session)).toEqual([3, -4]);
    if (device === 'cpu') {
      expect(lines.some((l) => /device webgpu .*falling back to cpu/.test(l))).toBe(true);
    } else {
      expect(lines.some((l) => l.includes('running on webgpu'))).toBe(true);
    }
  });

  it('throws instead of falling back when asked to (fallback: false)', async () => {
    const { logger, lines } = capturingLogger();
    await expect(createSession(doublingModel(), { device: 'cuda', logger, fallback: false })).rejects.toThrow(/cuda/i);
    await expect(createSession(doublingModel(), { device: 'webgpu', logger, fallback: false })).rejects.toThrow();
    expect(lines.filter((l) => /falling back/.test(l))).toEqual([]);
  });

  it('knows which providers this onnxruntime-node build bundles', () => {
    expect(providerUnavailableReason('cpu')).toBeNull();
    expect(providerUnavailableReason('cuda')).toBeNull(); // listed (installable), so it is tried, then may fall back
  });

  it('rejects unknown device names with the list of choices', () => {
    expect(parseDevice('cuda')).toBe('cuda');
    expect(() => parseDevice('tpu')).toThrow(/unknown device "tpu": choose one of cpu, cuda, webgpu/);
  });

  it('honours the thread count', async () => {
    const { session, device } = await createSession(doublingModel(), { threads: 1 });
    expect(device).toBe('cpu');
    expect(await runDoubling(session)).toEqual([3, -4]);
  });

  it("turns TF32 off for the CUDA provider (boxes then equal the cpu's) unless the environment already says", () => {
    const saved = process.env.NVIDIA_TF32_OVERRIDE;
    try {
      delete process.env.NVIDIA_TF32_OVERRIDE;
      expect(sessionOptionsFor('cpu').executionProviders).toEqual(['cpu']);
      expect(process.env.NVIDIA_TF32_OVERRIDE).toBeUndefined();
      expect(sessionOptionsFor('cuda', { threads: 2 })).toMatchObject({ executionProviders: ['cuda'], intraOpNumThreads: 2 });
      expect(process.env.NVIDIA_TF32_OVERRIDE).toBe('0');
      process.env.NVIDIA_TF32_OVERRIDE = '1';
      sessionOptionsFor('cuda');
      expect(process.env.NVIDIA_TF32_OVERRIDE).toBe('1');
    } finally {
      if (saved === undefined) delete process.env.NVIDIA_TF32_OVERRIDE;
      else process.env.NVIDIA_TF32_OVERRIDE = saved;
    }
  });
});
