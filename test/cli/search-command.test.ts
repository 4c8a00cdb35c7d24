import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDasrConfig } from '../../src/detect/config.js';
import { IndexStore } from '../../src/index/index-store.js';
import { createLogger } from '../../src/log.js';
import { runCli, ROOT } from '../support/cli.js';

describe('dasr search over videos indexed with other descriptor settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-search-settings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warns on stderr about the videos searched whose regions were pooled otherwise, and about no others', async () => {
    const store = await IndexStore.open(dir, { dim: 2048, logger: createLogger('error') });
    // indexed before poolingCells existed (every touched cell), and with today's settings
    const { poolingCells: _absent, ...before } = resolveDasrConfig({ longSide: 256 });
    await store.addVideo({ path: 'old.mp4', sourceKind: 'file', status: 'ready', config: { dasr: before, interval: 1 } });
    const current = await store.addVideo({ path: 'new.mp4', sourceKind: 'file', status: 'ready', config: { dasr: resolveDasrConfig({ longSide: 256 }), interval: 1 } });
    await store.close();
    const query = join(ROOT, 'fixtures/photos/coffee.png');

    const all = await runCli(['--long-side', '256', 'search', query, '--data', dir]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toBe(
      'warning: 1 of 2 indexed videos with recorded settings were described with --pooling-cells touched, this search with --pooling-cells overlap: the query is not described as ' +
        'their regions were. Search with --pooling-cells touched, or index them again with the current settings (dasr index --force).\n',
    );
    expect(all.stdout).toBe(`no match in ${dir} (the index is empty: run dasr index first)\n`);

    const one = await runCli(['--long-side', '256', 'search', query, '--data', dir, '--video', String(current.id)]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toBe('');
  }, 60_000);
});
