import { describe, expect, it } from 'vitest';
import { join, resolve } from 'node:path';
import { runCli } from '../support/cli.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

const classify = (photo: string) => runCli(['classify', join(ROOT, 'fixtures/photos', photo), '--json']);

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
