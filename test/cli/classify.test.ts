import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');

function classify(photo: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'classify', join(ROOT, 'fixtures/photos', photo), '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** The README's smoke test, through the real CLI and the translated ImageNet weights. */
describe('dasr classify on the shipped photos', () => {
  it.each([
    ['chelsea.png', 'Egyptian_cat', 285, 0.9],
    ['coffee.png', 'espresso', 967, 0.9],
  ])('%s is %s', async (photo, label, index, least) => {
    const run = await classify(photo);
    expect(run.code, run.stderr).toBe(0);
    const { classes } = JSON.parse(run.stdout) as { classes: { label: string; index: number; probability: number }[] };
    expect(classes).toHaveLength(5);
    expect(classes[0]).toMatchObject({ label, index });
    expect(classes[0]!.probability).toBeGreaterThan(least);
  }, 60_000);
});
