/**
 * Prometheus metrics (text exposition at /metrics). Counters that other parts already keep (live ingestion
 * counters, index size, queue lengths) are read when scraped instead of being copied on every change.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MaybePromise } from '../util/maybe-promise.js';

export interface MetricSources {
  streams(): MaybePromise<{ id: number; counters: { framesDecoded: number; processed: number; dropped: number; keyframes: number; regions: number; reconnects: number } }[]>;
  indexRegions(): MaybePromise<number>;
  indexVideos(): MaybePromise<number>;
  pendingJobs(): MaybePromise<number>;
  subscriptions(): number;
  queuedPushes(): number;
  openSockets(): number;
  workers(): { worker: string; state: string; restarts: number }[];
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];
const INFERENCE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16];

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly inferenceSeconds: Histogram<'op'>;
  readonly pushes: Counter<'type'>;
  readonly pushLatencySeconds: Histogram;
  readonly frameToPushSeconds: Histogram;
  readonly searchSeconds: Histogram;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;

  constructor(sources: MetricSources) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'dasr_process_' });
    this.inferenceSeconds = new Histogram({ name: 'dasr_inference_seconds', help: 'DASR time per image (detect: keyframes; describe: query boxes; describe-crop: query crops)', labelNames: ['op'], buckets: INFERENCE_BUCKETS, registers: [registry] });
    this.pushes = new Counter({ name: 'dasr_pushes_total', help: 'messages sent to subscribers', labelNames: ['type'], registers: [registry] });
    this.pushLatencySeconds = new Histogram({ name: 'dasr_push_latency_seconds', help: 'keyframe processed → message sent', buckets: LATENCY_BUCKETS, registers: [registry] });
    this.frameToPushSeconds = new Histogram({ name: 'dasr_frame_to_push_seconds', help: 'frame arrived from the decoder → message sent', buckets: LATENCY_BUCKETS, registers: [registry] });
    this.searchSeconds = new Histogram({ name: 'dasr_search_seconds', help: 'search request time (query description included)', buckets: LATENCY_BUCKETS, registers: [registry] });
    this.httpRequests = new Counter({ name: 'dasr_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });

    const perStream = (name: string, help: string, pick: (c: Awaited<ReturnType<MetricSources['streams']>>[number]['counters']) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['stream'],
        registers: [registry],
        async collect() {
          const streams = await sources.streams();
          this.reset();
          for (const s of streams) this.inc({ stream: String(s.id) }, pick(s.counters));
        },
      });
    };
    perStream('dasr_frames_decoded_total', 'frames decoded per live stream (current run)', (c) => c.framesDecoded);
    perStream('dasr_frames_processed_total', 'keyframes analysed per live stream (current run)', (c) => c.processed);
    perStream('dasr_frames_dropped_total', 'keyframes dropped because inference was busy (current run)', (c) => c.dropped);
    perStream('dasr_stream_reconnects_total', 'reconnections per live stream (current run)', (c) => c.reconnects);

    const gauge = (name: string, help: string, read: () => MaybePromise<number>): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(await read());
        },
      });
    };
    new Gauge({
      name: 'dasr_worker_up',
      help: 'whether a worker thread runs (0 while it is being restarted)',
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        for (const w of sources.workers()) this.set({ worker: w.worker }, w.state === 'running' ? 1 : 0);
      },
    });
    new Counter({
      name: 'dasr_worker_restarts_total',
      help: 'restarts of a worker thread after it died',
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of sources.workers()) this.inc({ worker: w.worker }, w.restarts);
      },
    });
    gauge('dasr_index_regions', 'regions in the index', sources.indexRegions);
    gauge('dasr_index_videos', 'videos and stream runs in the index', sources.indexVideos);
    gauge('dasr_indexing_jobs_pending', 'video files waiting or being indexed', sources.pendingJobs);
    gauge('dasr_subscriptions', 'live subscriptions', sources.subscriptions);
    gauge('dasr_push_queue_depth', 'messages waiting in subscriber outboxes', sources.queuedPushes);
    gauge('dasr_websocket_clients', 'open WebSocket connections', sources.openSockets);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
