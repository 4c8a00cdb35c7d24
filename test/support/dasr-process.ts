import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { dasrArgv, ROOT } from './cli.js';

/** A long-running `dasr` process (a worker, a watcher): its stderr gathered in `log`, its stdout in `out`. */
export type DasrProcess = ChildProcess & { log: string; out: string };

/**
 * Starts `dasr <args>` from the sources (through tsx), logging warnings and errors only, with `env` added to the
 * environment. `running` tracks it until it exits.
 */
export function startDasr(args: readonly string[], running?: Set<ChildProcess>, env: NodeJS.ProcessEnv = {}): DasrProcess {
  const child = spawn(process.execPath, dasrArgv(args), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DASR_LOG_LEVEL: 'warn', ...env },
  }) as DasrProcess;
  child.log = '';
  child.out = '';
  child.stderr!.on('data', (chunk: Buffer) => (child.log += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (child.out += chunk.toString()));
  running?.add(child);
  child.once('exit', () => running?.delete(child));
  return child;
}

/** Ends a process with `signal` (SIGTERM: a clean stop) and resolves when it has exited. */
export function stopDasr(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill(signal);
  });
}

/** Polls `condition` every 200 ms; fails after `timeoutMs` with what the processes said (`logs`). */
export async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}\nthe processes said:\n${logs()}`);
    await sleep(200);
  }
}
