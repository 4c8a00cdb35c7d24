/**
 * `npm run bench -- cluster [workers…] [--videos n] [--seconds s] [--threads n] [--split s]`: keyframes per second
 * indexed by 1, 2 and 3 `dasr worker` processes (default) pulling the same queued files from NATS JetStream into one
 * PostgreSQL index; `--threads` gives each worker that many inference threads (default: as many as the machine has
 * cores); `--split` queues each file as ranges of that many seconds (dasr index --split), so one file can use them all.
 *
 * The index is PGlite (PostgreSQL in WebAssembly, served over the wire protocol as in the tests) with the HNSW index
 * on the descriptors dropped: PGlite inserts into it at tens of rows per second, which would measure PGlite rather
 * than the workers. What this measures is the workers sharing the machine's cores, the queue and the commits. With
 * DASR_TEST_POSTGRES naming a server with pgvector (as for the tests), a database there, its HNSW index kept.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectNats, ensureJobQueue, enqueueJobs } from '../src/cluster/job-queue.js';
import { PostgresRegionStore } from '../src/index/postgres-store.js';
import { startDasr, stopDasr, waitUntil } from '../test/support/dasr-process.js';
import { DEFAULT_SCENE_THRESHOLD } from '../src/decode/keyframes.js';
import { DEFAULT_STILL_THRESHOLD } from '../src/ingest/still-gate.js';
import { splitFile } from '../src/ingest/ingest-file.js';
import { startNatsServer } from '../test/support/nats-server.js';
import { takeOption } from './args.js';
import { REAL_POSTGRES_URL, startTestPostgres } from '../test/support/test-postgres.js';

/** A short 1280×720 clip; `variant` moves the overlay so no two files share a frame. */
function makeVideo(path: string, seconds: number, variant: number): void {
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'mandelbrot=size=1280x720:rate=25',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25',
    '-filter_complex', `[0][1]overlay=x=mod(t*120+${variant * 150}\\,960):y=${100 + variant * 40}`,
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', path,
  ]);
}

function option(args: string[], name: string, fallback: number): number {
  return Number(takeOption(args, name) ?? fallback);
}

export async function run(args: string[]): Promise<void> {
  const rest = [...args];
  const videoCount = option(rest, '--videos', 6);
  const seconds = option(rest, '--seconds', 10);
  const threads = option(rest, '--threads', 0);
  const split = option(rest, '--split', 0);
  const counts = rest.length ? rest.map(Number) : [1, 2, 3];
  const work = mkdtempSync(join(tmpdir(), 'dasr-bench-cluster-'));
  const [nats, postgres] = await Promise.all([startNatsServer(), startTestPostgres()]);
  const running = new Set<ChildProcess>();
  try {
    const videos = Array.from({ length: videoCount }, (_, i) => {
      const path = join(work, `clip-${i}.mp4`);
      makeVideo(path, seconds, i);
      return path;
    });
    const nc = await connectNats(nats.url, 'bench');
    await ensureJobQueue(nc);
    const ranges = split ? splitFile(seconds, split) : [undefined];
    process.stdout.write(
      `${videoCount} files of ${seconds} s 720p at 1 keyframe/s${split ? `, each queued as ${ranges.length} ranges of ${split} s` : ''}, DASR defaults, ${cpus().length} cores, ` +
        `${threads || cpus().length} inference threads per worker; index: ${REAL_POSTGRES_URL ? 'PostgreSQL with pgvector, HNSW index kept' : 'PGlite without its HNSW index'}\n`,
    );
    process.stdout.write('workers | keyframes | wall s | keyframes/s | × the first row\n');
    let first = 0;
    for (const count of counts) {
      await postgres.dropIndex();
      await (await PostgresRegionStore.open(postgres.url, { dim: 2048 })).close();
      if (!REAL_POSTGRES_URL) await postgres.query('DROP INDEX regions_feature');
      const pool = Array.from({ length: count }, () => startDasr([...(threads ? ['--threads', String(threads)] : []), 'worker', '--nats', nats.url, '--index', postgres.url, '--streams', '0'], running));
      const logs = (): string => pool.map((w) => w.log).join('\n');
      // Timed from when every worker is up (model loaded, pulling): start-up is not throughput.
      await waitUntil('the workers are up', async () => pool.every((w) => /worker: indexing jobs/.test(w.log)), 120_000, logs);
      const started = performance.now();
      const job = { interval: 1, sceneThreshold: DEFAULT_SCENE_THRESHOLD, stillThreshold: DEFAULT_STILL_THRESHOLD, force: false };
      await enqueueJobs(nc, videos.flatMap((path) => ranges.map((range) => ({ path, ...job, ...(range ? { range } : {}) }))));
      const ready = async (): Promise<boolean> => Number((await postgres.query<{ n: string }>(`SELECT count(*) AS n FROM videos WHERE status = 'ready'`))[0]!.n) === videoCount;
      await waitUntil('every file is indexed', ready, 30 * 60_000, logs);
      const wallS = (performance.now() - started) / 1000;
      await Promise.all(pool.map((w) => stopDasr(w)));
      const keyframes = Number((await postgres.query<{ n: string }>('SELECT count(*) AS n FROM keyframes'))[0]!.n);
      const rate = keyframes / wallS;
      first ||= rate;
      process.stdout.write(`${count} | ${keyframes} | ${wallS.toFixed(1)} | ${rate.toFixed(2)} | ${(rate / first).toFixed(2)}\n`);
    }
    await nc.close();
  } finally {
    for (const child of running) child.kill('SIGKILL');
    await Promise.all([nats.stop(), postgres.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}
