/**
 * Request/reply messaging with a worker thread, for work that must stay off the event loop (native
 * inference and vector search block the thread they run on). Requests are handled one at a time, in the
 * order sent; ArrayBuffers listed as transferable move instead of being copied; errors come back with their
 * name, message and `code`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SHARE_ENV, Worker, parentPort, type WorkerOptions } from 'node:worker_threads';

interface Envelope<R> {
  seq: number;
  req: R;
}

type Reply = { seq: number; ok: true; value: unknown } | { seq: number; ok: false; error: { name: string; message: string; code?: string } };

/** An error raised in a worker, as seen by the caller: same name, message and code. */
export class WorkerError extends Error {
  constructor(
    name: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = name;
  }
}

/**
 * Starts the worker module that sits next to `siblingUrl` under `basename` (without extension): the compiled
 * .js under dist/, or — when running from .ts sources (tsx, vitest) — the .ts behind a bootstrap that
 * registers tsx inside the worker. (Node 22 accepts `execArgv: ['--import', 'tsx']`; on Node 20 tsx only
 * hooks the main thread, so a worker could not load .ts otherwise.)
 */
export function startWorker(siblingUrl: string, basename: string, workerData: unknown): Worker {
  const fromSource = fileURLToPath(siblingUrl).endsWith('.ts');
  // The process's own environment, not a copy: native libraries a worker loads read settings from it
  // (session.ts sets NVIDIA_TF32_OVERRIDE before the CUDA provider loads).
  if (!fromSource) return new Worker(new URL(`./${basename}.js`, siblingUrl), { workerData, env: SHARE_ENV });
  const entry = new URL(`./${basename}.ts`, siblingUrl).href;
  const bootstrap =
    `import(${JSON.stringify(tsxApi())})` +
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })` +
    `.catch((err) => { setImmediate(() => { throw err; }); });`;
  const options: WorkerOptions = { eval: true, workerData, env: SHARE_ENV };
  return new Worker(bootstrap, options);
}

/** Absolute URL of tsx's ESM API, so the worker finds it whatever the current directory is. */
function tsxApi(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    const main = createRequire(import.meta.url).resolve('tsx/package.json');
    return pathToFileURL(join(dirname(main), 'dist/esm/api/index.mjs')).href;
  }
}

/** The caller's side. The worker is unref'd while idle, so an idle client never keeps the process alive. */
export class RpcClient<R> {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private failure: Error | null = null;
  private closed = false;
  private readonly failureListeners: ((error: Error) => void)[] = [];

  constructor(
    private readonly worker: Worker,
    private readonly name: string,
  ) {
    worker.unref();
    worker.on('message', (reply: Reply) => this.onReply(reply));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`${name} worker exited (code ${code})`)));
  }

  call<T>(req: R, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${this.name} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ seq, req } satisfies Envelope<R>, transfer);
    });
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Called once if the worker dies or errors (not on close()): a supervisor restarts it. */
  onFailure(listener: (error: Error) => void): void {
    if (this.failure) listener(this.failure);
    else this.failureListeners.push(listener);
  }

  /** Ends the worker at once, as a crash would: pending and later calls fail, failure listeners run. */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  /** Sends `last` (if given, and the worker is healthy), then stops the worker. */
  async close(last?: R): Promise<void> {
    if (this.closed) return;
    try {
      if (last !== undefined && !this.failure) await this.call(last);
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }

  private onReply(reply: Reply): void {
    const waiter = this.pending.get(reply.seq);
    if (!waiter) return;
    this.pending.delete(reply.seq);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new WorkerError(reply.error.name, reply.error.message, reply.error.code));
  }

  private fail(err: Error): void {
    if (this.closed && this.pending.size === 0) return;
    const first = this.failure === null;
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
    if (first && !this.closed) for (const listener of this.failureListeners.splice(0)) listener(err);
  }
}

/** Typed arrays found at the top level of a reply (or nested one level in objects and arrays). */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const visit = (v: unknown, depth: number): void => {
    if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) out.add(v.buffer);
    } else if (v && typeof v === 'object' && depth < 3) {
      for (const inner of Object.values(v)) visit(inner, depth + 1);
    }
  };
  visit(value, 0);
  return [...out];
}

/**
 * The worker's side: the returned value's whole-buffer typed arrays are transferred back; `isLast(req)` closes the
 * port after replying. Requests run one after another, except those `isReader` names: they run beside each other
 * (while one awaits, say, a file being written on libuv's threads), after every request sent before them that is
 * not a reader, and before any sent after them that is not. So a caller sees its writes in order, and a long
 * read-only operation (a graph being saved) does not hold up the short ones (searches).
 */
export function serveRpc<R>(handle: (req: R) => unknown, isLast: (req: R) => boolean = () => false, isReader: (req: R) => boolean = () => false): void {
  const port = parentPort;
  if (!port) throw new Error('serveRpc must run in a worker thread');
  let lastWriter: Promise<void> = Promise.resolve();
  let readersSince: Promise<void>[] = [];
  const answer = async (seq: number, req: R): Promise<void> => {
    let reply: Reply;
    try {
      reply = { seq, ok: true, value: await handle(req) };
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const code = (e as { code?: unknown }).code;
      reply = { seq, ok: false, error: { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) } };
    }
    port.postMessage(reply, reply.ok ? transferablesOf(reply.value) : []);
    if (isLast(req)) port.close();
  };
  port.on('message', ({ seq, req }: Envelope<R>) => {
    if (isReader(req)) {
      readersSince.push(lastWriter.then(() => answer(seq, req)));
    } else {
      const before = Promise.all([lastWriter, ...readersSince]);
      readersSince = [];
      lastWriter = before.then(() => answer(seq, req));
    }
  });
}
