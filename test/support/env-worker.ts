/** A worker that sets an environment variable on request (worker-env.test.ts). */
import { serveRpc } from '../../src/util/worker-rpc.js';

serveRpc<{ name: string; value: string }>(({ name, value }) => {
  process.env[name] = value;
  return true;
});
