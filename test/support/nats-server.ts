import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Debian installs nats-server in /usr/sbin, which is not on every user's PATH. */
const BINARY = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find(existsSync) ?? 'nats-server';

/** A NATS server with JetStream for one test file: its own port and store directory, which survive a restart. */
export interface NatsServer {
  url: string;
  /** stops the server (SIGKILL when `crash`) and starts it again on the same port and store */
  restart(options?: { crash?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export async function startNatsServer(): Promise<NatsServer> {
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), 'dasr-nats-'));
  let child = await launch(port, store);
  return {
    url: `nats://127.0.0.1:${port}`,
    async restart({ crash = false, downMs = 0 } = {}) {
      await end(child, crash ? 'SIGKILL' : 'SIGTERM');
      await sleep(downMs);
      child = await launch(port, store);
    },
    async stop() {
      await end(child, 'SIGTERM');
      rmSync(store, { recursive: true, force: true });
    },
  };
}

async function launch(port: number, store: string): Promise<ChildProcess> {
  const child = spawn(BINARY, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: 'ignore' });
  let failed: Error | undefined;
  child.once('error', (err) => (failed = err)); // not installed: run scripts/setup.sh
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (failed) throw new Error(`nats-server could not be started (${failed.message}): bash scripts/setup.sh installs it`);
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('nats-server did not start within 10 s');
    await sleep(50);
  }
  return child;
}

function end(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill(signal);
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))));
    });
  });
}
