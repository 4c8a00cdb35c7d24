/**
 * The cluster's live streams as the API and `dasr stream` see them. A stream is a live video of the shared index that
 * is still indexing: registering one adds the video, and a worker with room takes it up (stream-holder.ts);
 * stopping one marks the video ready, and its holder lets it go. Its id is the video's.
 */
import type { VideoRecord } from '../index/database.js';
import type { RegionStore } from '../index/region-store.js';
import { ADMIN_OWNER, mayAccess, type Principal } from '../serve/auth.js';
import { ApiError } from '../serve/errors.js';
import type { StreamRegistry } from '../serve/ingest-control.js';
import type { StreamStatus } from '../serve/live-streams.js';
import { checkSourceHost, type HostPolicy } from '../source/host-policy.js';
import { parseSource } from '../source/source-spec.js';

/** What a stream's video records beside its URL. */
export interface StreamSettings {
  /** seconds between analysed keyframes */
  interval: number;
  name?: string | null;
  owner?: string;
  /**
   * The host policy the stream was admitted under (an API replica's): its worker checks the host against it before
   * every connection, as a host name may resolve to another address later. Absent for `dasr stream add`, an
   * operator's command.
   */
  hostPolicy?: HostPolicy;
  /** the protocols the admitting replica allows (`serve --allow-protocols`); absent: the default list */
  allowedProtocols?: readonly string[];
}

/** Keyframe interval of a stream registered without one. */
const DEFAULT_STREAM_INTERVAL = 1;

/** The seconds between a stream's analysed keyframes, as registered. */
export function streamInterval(video: VideoRecord): number {
  const { interval } = settingsOf(video);
  return typeof interval === 'number' && interval > 0 ? interval : DEFAULT_STREAM_INTERVAL;
}

/** The host policy a stream's connections must keep to, as registered; undefined: any host. */
export function streamHostPolicy(video: VideoRecord): HostPolicy | undefined {
  const { hostPolicy } = settingsOf(video);
  if (hostPolicy === undefined) return undefined;
  // Anything but an explicit permission is a refusal, a damaged policy included.
  return { allowPrivateHosts: hostPolicy?.allowPrivateHosts === true, allowListeners: hostPolicy?.allowListeners === true };
}

/** The protocols a stream was admitted with; undefined: the default list. */
export function streamProtocols(video: VideoRecord): readonly string[] | undefined {
  const { allowedProtocols } = settingsOf(video);
  return Array.isArray(allowedProtocols) && allowedProtocols.every((p) => typeof p === 'string') ? allowedProtocols : undefined;
}

/** Registers a live stream: its video, indexing, which the workers take up. */
export function registerStream(store: RegionStore, url: string, settings: StreamSettings): Promise<VideoRecord> {
  return store.addVideo({ path: url, sourceKind: 'live', status: 'indexing', config: settings });
}

/** Stops a stream (its worker lets it go; what was indexed stays searchable); false when no such stream is followed. */
export async function stopStream(store: RegionStore, id: number): Promise<boolean> {
  if (!(await store.liveVideosIndexing()).some((v) => v.id === id)) return false;
  await store.setVideoStatus(id, 'ready');
  return true;
}

export interface ClusterStreamsOptions {
  allowedProtocols: readonly string[];
  hostPolicy: HostPolicy;
  /** streams followed at once across the cluster */
  maxStreams: number;
}

/** A stream's status in a cluster; `holder` names the worker that follows it (null while none has taken it). */
export type ClusterStreamStatus = StreamStatus & { holder: string | null };

export class ClusterStreams implements StreamRegistry {
  constructor(
    private readonly store: RegionStore,
    /** who holds each stream's lease now, by stream id */
    private readonly holders: () => Promise<Map<number, string>>,
    private readonly options: ClusterStreamsOptions,
  ) {}

  async add(url: string, interval: number, name: string | null, owner: string): Promise<StreamStatus> {
    const source = parseSource(url, { allowedProtocols: this.options.allowedProtocols });
    if (source.kind === 'file') throw new ApiError('bad-request', 'a live stream needs a URL (rtsp://, http://, …); upload or index files as videos');
    await checkSourceHost(source, this.options.hostPolicy);
    const followed = (await this.store.liveVideosIndexing()).length;
    if (followed >= this.options.maxStreams) throw new ApiError('too-many-requests', `${followed} live streams are followed already, the most this cluster takes (serve --max-streams)`);
    const video = await registerStream(this.store, url, { interval, name, owner, hostPolicy: this.options.hostPolicy, allowedProtocols: this.options.allowedProtocols });
    return this.statusOf(video, 0, 0, null);
  }

  remove(id: number): Promise<boolean> {
    return stopStream(this.store, id);
  }

  async list(principal?: Principal): Promise<ClusterStreamStatus[]> {
    const videos = await this.store.liveVideosIndexing();
    const holders = await this.holders();
    const visible = videos.filter((v) => !principal || mayAccess(principal, ownerOf(v)));
    return Promise.all(visible.map((v) => this.described(v, holders)));
  }

  async status(id: number): Promise<ClusterStreamStatus | undefined> {
    const video = (await this.store.liveVideosIndexing()).find((v) => v.id === id);
    return video && this.described(video, await this.holders());
  }

  /** (The workers' streams outlive the API.) */
  async close(): Promise<void> {}

  /** A stream with what the index holds of it, and its holder among `holders`. */
  private async described(video: VideoRecord, holders: Map<number, string>): Promise<ClusterStreamStatus> {
    const summary = await this.store.videoSummary(video.id);
    return this.statusOf(video, summary?.keyframeCount ?? 0, summary?.regionCount ?? 0, holders.get(video.id) ?? null);
  }

  /**
   * What the index and the leases tell of a stream. The decoder's own counters stay with its worker: here they
   * read 0, keyframes and regions count what the index holds.
   */
  private statusOf(video: VideoRecord, keyframes: number, regions: number, holder: string | null): ClusterStreamStatus {
    return {
      id: video.id,
      url: video.path,
      interval: streamInterval(video),
      name: settingsOf(video).name ?? null,
      createdAt: video.createdAt,
      owner: ownerOf(video),
      state: holder ? 'live' : 'connecting',
      videoId: video.id,
      holder,
      counters: { framesDecoded: 0, keyframes, carried: 0, processed: keyframes, dropped: 0, regions, reconnects: 0, lastError: null },
    };
  }
}

/** What a stream's video recorded of its registration (any of it may be missing: `dasr stream add` names no owner). */
function settingsOf(video: VideoRecord): Partial<StreamSettings> {
  return (video.config ?? {}) as Partial<StreamSettings>;
}

function ownerOf(video: VideoRecord): string {
  return settingsOf(video).owner ?? ADMIN_OWNER;
}
