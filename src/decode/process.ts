/**
 * Runs ffmpeg/ffprobe to completion with an argument array (never a shell), collecting stdout (bounded) and the
 * tail of stderr. Aborting or running past the time limit kills the process with SIGKILL.
 */

import { spawn } from 'node:child_process';

import { DecodeError } from './errors.js';

export interface RunOptions {
  /** Kill the process after this long. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Kill the process when stdout grows past this many bytes (the result then has `overflow: true`). */
  maxStdoutBytes?: number;
}

export interface RunResult {
  stdout: Buffer;
  /** Last lines of stderr (at most ~12), trimmed. */
  stderr: string;
  exitCode: number | null;
  timedOut: boolean;
  overflow: boolean;
}

export function runProcess(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const maxStdout = options.maxStdoutBytes ?? 256 * 1024 * 1024;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    let overflow = false;
    let err = '';
    let timedOut = false;
    let settled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (overflow) return;
      outBytes += chunk.length;
      if (outBytes <= maxStdout) out.push(chunk);
      else {
        overflow = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      err += chunk;
      if (err.length > 64 * 1024) err = err.slice(-32 * 1024);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (cause) => {
      if (settled) return;
      settled = true;
      finish();
      reject(new DecodeError('spawn-failed', `Cannot run ${command}: ${cause.message}`, { cause }));
    });
    child.on('close', (code) => {
      if (settled) return;
      settled = true;
      finish();
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      resolve({
        stdout: Buffer.concat(out),
        stderr: err.trim().split('\n').slice(-12).join('\n'),
        exitCode: code,
        timedOut,
        overflow,
      });
    });
  });
}
