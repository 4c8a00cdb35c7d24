import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The repository root: where `dasr` processes run. */
export const ROOT = resolve(import.meta.dirname, '..', '..');

/** Node's arguments to run `dasr <args>` from the sources, through tsx. */
export function dasrArgv(args: readonly string[]): string[] {
  return ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args];
}

/** `dasr <args>` as a real child process (from the sources, through tsx): its exit code and output. */
export function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, dasrArgv(args), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}
