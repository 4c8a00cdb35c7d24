import { randomUUID } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';

/**
 * Write-then-rename: readers see the old file or the whole new one, never a half-written one, and a crash leaves at
 * most a stray temporary file. The temporary name is unique per call, so concurrent writers of one path do not clash.
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const temporary = `${path}.${process.pid}-${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
