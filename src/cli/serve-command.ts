import { existsSync, statSync } from 'node:fs';
import { createLogger } from '../log.js';
import { resolveTokens, type ServeConfig } from '../serve/config.js';
import { startServer } from '../serve/server.js';
import { redactPassword } from '../index/postgres-store.js';

/** Runs the service until SIGINT/SIGTERM, then stops ingestion cleanly (committed work is kept). */
export async function serveCommand(config: Omit<ServeConfig, 'tokens'>): Promise<void> {
  const logger = createLogger();
  for (const root of config.pathRoots) {
    if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`--root ${root}: no such directory`);
  }
  const { tokens, file, generated } = resolveTokens(config.dataDir);
  const server = await startServer({ ...config, tokens }, logger);
  if (file) logger.info(`API token ${generated ? 'created in' : 'read from'} ${file}`);
  else logger.info('API tokens from DASR_API_TOKENS');
  // Replicas behind one address must accept the same tokens (and sign media URLs alike, media-urls.ts).
  if (config.cluster && file) logger.warn('an API replica with its own token: give every replica the same DASR_API_TOKENS, so that a client can move between them');
  const what = config.cluster ? `the cluster index ${redactPassword(config.cluster.index)} (an API replica)` : config.dataDir;
  process.stderr.write(`dasr serving ${what} at ${server.url}  (web UI: ${server.url}/#token=${file ? tokens[0] : '<your token>'})\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info(`${signal}: stopping (indexing resumes on the next start)`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await server.close();
}
