/** The worker thread of fitVladCodebookOffThread: one fit per request. */
import { parentPort } from 'node:worker_threads';
import { fitVladCodebook, type VladOptions } from '../detect/vlad.js';
import { serveRpc } from '../util/worker-rpc.js';

export interface CodebookRequest {
  sets: Float32Array[][];
  options: VladOptions;
}

if (parentPort) serveRpc<CodebookRequest>((req) => fitVladCodebook(req.sets, req.options));
