/**
 * The live streams the service ingests. The list is kept in `<data>/streams.json`, so streams come back after a
 * restart (each run of a stream is its own "video" in the index, since its timeline starts anew).
 */
import { join } from 'node:path';
import type { Detector } from '../detect/detector.js';
import type { IndexStore } from '../index/index-store.js';
import { LiveIngestion, type LiveCounters, type LiveKeyframe, type LiveState } from '../ingest/ingest-live.js';
import { parseSource } from '../source/source-spec.js';
import { checkSourceHost, type HostPolicy } from '../source/host-policy.js';
import { ApiError } from './errors.js';
import { ADMIN_OWNER, mayAccess, type Principal } from './auth.js';
import type { Logger } from '../log.js';
import type { LiveRecordSettings } from './config.js';
import { readJsonFile, writeJsonAtomic } from './json-file.js';

export interface StreamSpec {
  id: number;
  url: string;
  /** seconds between analysed keyframes */
  interval: number;
  name: string | null;
  createdAt: number;
  /** who added it (auth.ts); absent in files written before streams had owners: the administrator's */
  owner?: string;
}

export interface StreamStatus extends StreamSpec {
  owner: string;
  state: LiveState;
  /** the index's video id of the current run */
  videoId: number;
  counters: LiveCounters;
}

export interface LiveStreamsOptions {
  dataDir: string;
  allowedProtocols: readonly string[];
  hostPolicy: HostPolicy;
  maxStreams: number;
  sceneThreshold: number;
  stillThreshold?: number;
  logger: Logger;
  /** ffmpeg network I/O timeout and reconnect backoff (tests shorten them) */
  ioTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** recording and retention; null: streams are not recorded */
  record: LiveRecordSettings | null;
  onKeyframe: (stream: StreamSpec, keyframe: LiveKeyframe) => void;
  onStopped: (stream: StreamSpec, videoId: number) => void;
}

interface StreamsFile {
  nextId: number;
  streams: StreamSpec[];
}

export class LiveStreams {
  private readonly running = new Map<number, { spec: StreamSpec; ingestion: LiveIngestion }>();
  /** saved streams that could not be restarted (a protocol no longer allowed): kept in the file, not run */
  private readonly notRestarted: StreamSpec[] = [];
  private readonly file: string;
  private nextId: number;

  private readonly saved: StreamSpec[];

  constructor(
    private readonly store: IndexStore,
    private readonly detector: Detector,
    private readonly options: LiveStreamsOptions,
  ) {
    this.file = join(options.dataDir, 'streams.json');
    const saved = readJsonFile<StreamsFile>(this.file, { nextId: 1, streams: [] });
    this.nextId = saved.nextId;
    this.saved = saved.streams;
  }

  /** Starts the streams the list had when the service stopped. */
  async restore(): Promise<void> {
    for (const spec of this.saved.splice(0)) {
      try {
        await this.start(spec);
      } catch (error) {
        this.options.logger.error(`stream ${spec.id} (${spec.url}) not restarted: ${error instanceof Error ? error.message : String(error)}`);
        this.notRestarted.push(spec);
      }
    }
  }

  /** Checks the URL (allowed protocols, no files, the host policy) and starts ingesting it. */
  async add(url: string, interval: number, name: string | null, owner: string = ADMIN_OWNER): Promise<StreamStatus> {
    const source = parseSource(url, { allowedProtocols: this.options.allowedProtocols });
    if (source.kind === 'file') throw new TypeError('a live stream needs a URL (rtsp://, http://, …); upload or index files as videos');
    await checkSourceHost(source, this.options.hostPolicy);
    if (this.running.size >= this.options.maxStreams) throw new ApiError('too-many-requests', `${this.running.size} live streams are followed already, the most this service takes (serve --max-streams)`);
    const spec: StreamSpec = { id: this.nextId, url, interval, name, createdAt: Date.now(), owner };
    this.nextId++;
    await this.start(spec);
    this.persist();
    return this.status(spec.id)!;
  }

  async remove(id: number): Promise<boolean> {
    const entry = this.running.get(id);
    if (!entry) return false;
    this.running.delete(id);
    this.persist();
    await entry.ingestion.stop();
    this.options.onStopped(entry.spec, entry.ingestion.videoId);
    return true;
  }

  /** The streams `principal` may see (all, without one: the service's own view). */
  list(principal?: Principal): StreamStatus[] {
    return [...this.running.keys()].map((id) => this.status(id)!).filter((s) => !principal || mayAccess(principal, s.owner));
  }

  status(id: number): StreamStatus | undefined {
    const entry = this.running.get(id);
    if (!entry) return undefined;
    return { ...entry.spec, owner: entry.spec.owner ?? ADMIN_OWNER, state: entry.ingestion.state, videoId: entry.ingestion.videoId, counters: { ...entry.ingestion.counters } };
  }

  /** Stops every stream but keeps the list, so they restart with the service. */
  async close(): Promise<void> {
    const entries = [...this.running.values()];
    this.running.clear();
    await Promise.all(entries.map((e) => e.ingestion.stop()));
  }

  private async start(spec: StreamSpec): Promise<void> {
    const ingestion = await LiveIngestion.open(spec.url, this.detector, this.store, {
      interval: spec.interval,
      sceneThreshold: this.options.sceneThreshold,
      stillThreshold: this.options.stillThreshold,
      allowedProtocols: this.options.allowedProtocols,
      hostPolicy: this.options.hostPolicy,
      ioTimeoutMs: this.options.ioTimeoutMs,
      backoff: this.options.backoff,
      logger: this.options.logger,
      record: this.options.record ? { ...this.options.record, dataDir: this.options.dataDir } : undefined,
    });
    ingestion.keyframes$.subscribe((keyframe) => {
      try {
        this.options.onKeyframe(spec, keyframe);
      } catch (error) {
        this.options.logger.error(`stream ${spec.id}: keyframe handler failed: ${error instanceof Error ? error.stack : String(error)}`);
      }
    });
    this.running.set(spec.id, { spec, ingestion });
    ingestion.start();
  }

  private persist(): void {
    const streams = [...this.notRestarted, ...[...this.running.values()].map((e) => e.spec)].sort((a, b) => a.id - b.id);
    writeJsonAtomic(this.file, { nextId: this.nextId, streams } satisfies StreamsFile);
  }
}
