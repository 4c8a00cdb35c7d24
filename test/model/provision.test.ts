import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { BACKBONE_FILE, dasrModelFile, ensureModels } from '../../src/model/provision.js';
import { graphOpTypes } from '../support/onnx-ops.js';

/** Records the info lines: a build is always announced with the files it rebuilds and why. */
function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const keep = (line: string) => void lines.push(line);
  return { logger: { debug: () => {}, info: keep, warn: keep, error: keep }, lines };
}

let cacheDir: string;
beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'dasr-provision-'));
});
afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

const manifestFiles = async (): Promise<string[]> => Object.keys(JSON.parse(await readFile(join(cacheDir, 'manifest.json'), 'utf8')).files).sort();

describe('model cache', () => {
  it('builds the backbone and one level, keeps them, adds another level beside them, and rebuilds only a damaged file', async () => {
    const first = recorder();
    const paths = await ensureModels({ cacheDir, logger: first.logger, topDown: 'res5' });
    expect(paths).toEqual({ backbone: join(cacheDir, BACKBONE_FILE), dasr: join(cacheDir, dasrModelFile('res5')) });
    expect(first.lines.join('\n')).toMatch(/resnet50-backbone\.onnx: .*resnet50-dasr-res5\.onnx: /);

    const again = recorder();
    await ensureModels({ cacheDir, logger: again.logger, topDown: 'res5' });
    expect(again.lines).toEqual([]);

    const other = recorder();
    await ensureModels({ cacheDir, logger: other.logger, topDown: 'res4' });
    expect(other.lines[0]).toMatch(/resnet50-dasr-res4\.onnx: not built yet$/);
    expect(await manifestFiles()).toEqual([BACKBONE_FILE, dasrModelFile('res4'), dasrModelFile('res5')].sort());

    const size = (await stat(join(cacheDir, dasrModelFile('res5')))).size;
    await truncate(join(cacheDir, dasrModelFile('res5')), size - 100);
    const damaged = recorder();
    await ensureModels({ cacheDir, logger: damaged.logger, topDown: 'res5' });
    expect(damaged.lines[0]).toMatch(new RegExp(`resnet50-dasr-res5\\.onnx: ${size - 100} bytes, expected ${size} \\(truncated or replaced\\)$`));
    expect((await stat(join(cacheDir, dasrModelFile('res5')))).size).toBe(size);
    expect(await manifestFiles()).toEqual([BACKBONE_FILE, dasrModelFile('res4'), dasrModelFile('res5')].sort());
  });

  it('builds models whose operators GPU providers run on the device: no Sum, no ConstantOfShape', async () => {
    // WebGPU has neither kernel: ONNX Runtime ran them on the cpu with copies both ways, 10× slower DASR there.
    await ensureModels({ cacheDir, logger: recorder().logger, topDown: 'res4' });
    for (const file of [BACKBONE_FILE, dasrModelFile('res4'), dasrModelFile('res5')]) {
      const ops = new Set(graphOpTypes(await readFile(join(cacheDir, file))));
      expect(ops.has('Conv') && ops.has('Add'), file).toBe(true);
      expect([...ops].filter((op) => op === 'Sum' || op === 'ConstantOfShape'), file).toEqual([]);
    }
  });
});
