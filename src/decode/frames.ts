/**
 * Decoding a video (file, remote file or live stream) into RGB frames with exact timestamps, by running ffmpeg:
 *
 *   ffmpeg -hide_banner -nostdin -nostats -loglevel info
 *          -protocol_whitelist <list> [network timeout] -i <file:/abs/path | url>
 *          -map 0:<video stream> -an -sn -dn -vf scale=W:H:flags=area,showinfo
 *          -fps_mode passthrough -pix_fmt rgb24 -f rawvideo pipe:1
 *
 * - stdout carries the frames back to back, exactly W*H*3 bytes each (rgb24).
 * - stderr carries one `showinfo` line per frame, in output order; its integer `pts:` times the time base that
 *   showinfo prints when it is configured (`config in time_base: 1/12800`) is the exact presentation time. The
 *   rounded `pts_time:` (6 significant digits) is only used to cross-check. Frame k on stdout gets the k-th line.
 * - `-fps_mode passthrough` keeps every decoded frame with its own timestamp: no duplication, no dropping (VFR stays
 *   VFR).
 * - Timestamps are relative to the input's start time, as ffmpeg makes them without `-copyts` (for files starting at
 *   0, as almost all do, they are the stream's own timestamps).
 * - A decode that starts part-way (`seek`: `-copyts -ss`) gets the stream's own timestamps from ffmpeg and shifts
 *   them back by a whole number of time-base ticks, measured once (decodeTimeline), so each frame has to the bit the
 *   pts a whole decode gives it: one video indexed in time ranges by several workers has one timeline.
 *
 * Backpressure: {@link readFrames} is an async generator and the primitive. It reads stdout in paused mode and only
 * when the consumer asks for the next frame, so when the consumer is slow, Node's buffer (about two frames), then
 * the OS pipe fill up and ffmpeg blocks in write(): memory stays bounded whatever the video's length.
 * {@link decodeFrames} (rxjs) is built on it; it pulls the next frame once the subscriber's `next` returned.
 * For asynchronous per-frame work use {@link concatMapFrames}, which pulls the next frame only after the work for the
 * previous one completed (a plain `decodeFrames(...).pipe(concatMap(...))` would buffer frames inside concatMap).
 *
 * Ending early (break out of the loop, unsubscribe, abort signal) kills ffmpeg with SIGKILL.
 */

import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { join } from 'node:path';

import { Observable, from, of, type ObservableInput, type Subscription } from 'rxjs';

import type { SourceSpec } from '../source/source-spec.js';
import { DecodeError } from './errors.js';
import { describeSource, ffmpegBinary, inputArgs, LineTail, toSourceSpec, type FfmpegBinaries } from './ffmpeg-args.js';
import { probeVideo, type VideoInfo } from './probe.js';

export interface DecodedFrame {
  /** 0-based position of the frame in this decode. */
  index: number;
  /** Presentation timestamp in seconds, exact (from the stream's time base); NaN if the stream has none. */
  pts: number;
  width: number;
  height: number;
  /** rgb24, row-major, no padding: width * height * 3 bytes. */
  data: Buffer;
  /** Wall-clock time (Date.now()) at which the frame's last byte arrived from ffmpeg. */
  receivedAt: number;
}

export interface DecodeOptions extends FfmpegBinaries {
  /** Length in pixels of the longer side of the output frames; the other side keeps the aspect, rounded to even. */
  longSide: number;
  /** Live source: enables the stall watchdog. Default: true when the source is rtsp/rtmp/udp/srt or HLS. */
  live?: boolean;
  signal?: AbortSignal;
  /** Allowlist used when `source` is a string (see parseSource). */
  allowedProtocols?: readonly string[];
  /** Network I/O timeout handed to ffmpeg/ffprobe for remote and live sources (see timeoutArgs). Default 10 s. */
  ioTimeoutMs?: number;
  /**
   * Fail with DecodeError 'timeout' when the consumer is waiting and ffmpeg has produced no output for this long.
   * Default 30 s for live sources, off for others. Time the consumer spends on a frame does not count.
   */
  stallTimeoutMs?: number;
  /** Probe result to use instead of running ffprobe (e.g. a live source probed once already). */
  info?: VideoInfo;
  /** Called with the ffmpeg process right after it started (monitoring, tests). Do not read its stdout. */
  onSpawn?: (child: ChildProcess, args: readonly string[]) => void;
  /** Filled in while decoding: counters useful for monitoring. */
  stats?: DecodeStats;
  /** Also record the video stream as it arrives (stream copy, no re-encode): see {@link RecordOutput}. */
  record?: RecordOutput;
  /** Start near a time of a file instead of at its beginning: see {@link Seek}. */
  seek?: Seek;
}

/**
 * Where a decode starts: ffmpeg seeks to `seconds` (on the timeline a whole decode gives), accurately, so the first
 * frame is about there, and keeps the stream's own timestamps (-copyts); `shift` (decodeTimeline), in seconds, is
 * what a whole decode subtracts from them, and is subtracted here in whole ticks of the time base.
 */
export interface Seek {
  seconds: number;
  shift: number;
}

/** How a whole decode's timestamps relate to the stream's own, for decodes that seek. */
export interface DecodeTimeline {
  /** pts of the first frame of a whole decode */
  firstPts: number;
  /** seconds a whole decode subtracts from the stream's own timestamps (its start time, as ffmpeg counts it) */
  shift: number;
}

/**
 * Measures a file's DecodeTimeline by decoding its first frame twice (tiny frames), as a whole decode does and with
 * the stream's own timestamps, rather than by re-deriving ffmpeg's start-time rules from the probe.
 */
export async function decodeTimeline(source: string | SourceSpec, info: VideoInfo, options: FfmpegBinaries & { signal?: AbortSignal } = {}): Promise<DecodeTimeline> {
  const firstPts = async (seek?: Seek): Promise<number> => {
    for await (const frame of readFrames(source, { ...options, longSide: 16, info, seek })) return frame.pts;
    throw new DecodeError('empty', `${describeSource(toSourceSpec(source))}: no frame to decode`);
  };
  const whole = await firstPts();
  const own = await firstPts({ seconds: 0, shift: 0 });
  if (!Number.isFinite(whole) || !Number.isFinite(own)) throw new DecodeError('corrupt', `${describeSource(toSourceSpec(source))}: its first frame has no timestamp, so it cannot be decoded from part-way`);
  return { firstPts: whole, shift: own - whole };
}

/** Seek margins tried in turn: ffmpeg's seek lands exactly in MP4, but can land a keyframe late in MPEG-TS. */
const SEEK_MARGINS_S = [1, 8, 60];

/**
 * A seek whose first frame comes at or before `seconds` (checked by decoding that frame, tiny), so that a decode from
 * it misses nothing from there on; undefined when only a whole decode is sure to (then decode from the start).
 */
export async function seekBefore(
  source: string | SourceSpec,
  info: VideoInfo,
  timeline: DecodeTimeline,
  seconds: number,
  options: FfmpegBinaries & { signal?: AbortSignal } = {},
): Promise<Seek | undefined> {
  for (const margin of SEEK_MARGINS_S) {
    const seek = { seconds: seconds - margin, shift: timeline.shift };
    if (seek.seconds <= timeline.firstPts) return undefined;
    for await (const frame of readFrames(source, { ...options, longSide: 16, info, seek })) {
      if (frame.pts <= seconds) return seek;
      break;
    }
  }
  return undefined;
}

/**
 * A second output of the decoding ffmpeg: the source's video stream copied into MPEG-TS segments of about
 * `segmentSeconds` (cut at keyframes) in `dir` (`seg-000000.ts`, …), each listed in `dir/segments.csv` when it is
 * finished (record/segment-list.ts). One process and one connection for both outputs, so the segments' times are the
 * decoded frames' times.
 */
export interface RecordOutput {
  dir: string;
  segmentSeconds: number;
  /** the recording stopped (ffmpeg could not write it) while the decode goes on */
  onFailure?: (reason: string) => void;
}

export const SEGMENT_LIST = 'segments.csv';

export interface DecodeStats {
  /** showinfo lines seen: frames that went through ffmpeg's filter graph. */
  framesFiltered: number;
  /** Frames handed to the consumer. */
  framesEmitted: number;
  /** Bytes of frame data handed to the consumer. */
  bytesEmitted: number;
}

export interface OutputSize {
  width: number;
  height: number;
}

/** Output size for a displayed size: long side = `longSide`, other side proportional, rounded to even (≥ 2). */
export function outputSize(displayWidth: number, displayHeight: number, longSide: number): OutputSize {
  if (!Number.isInteger(longSide) || longSide < 2) throw new RangeError(`longSide must be an integer ≥ 2, got ${longSide}`);
  if (!(displayWidth > 0 && displayHeight > 0)) throw new RangeError(`invalid picture size ${displayWidth}x${displayHeight}`);
  const short = (a: number, b: number): number => Math.max(2, 2 * Math.round((longSide * a) / b / 2));
  return displayWidth >= displayHeight
    ? { width: longSide, height: short(displayHeight, displayWidth) }
    : { width: short(displayWidth, displayHeight), height: longSide };
}

/**
 * One level of ffmpeg's token escaping (av_get_token, which the tee muxer applies once to each output and once more
 * to each option value): a backslash before every character but letters, digits and `_ / . , -`.
 */
function tokenEscape(text: string): string {
  return text.replace(/[^\w/.,-]/gu, (c) => `\\${c}`);
}

/**
 * The recording output: the video stream copied into segments, through a tee whose second output is null with
 * `onfail=ignore` on the segments, so that a recording that fails (a full disk) stops alone: an output of its own that
 * failed would end the whole ffmpeg, and the decode with it.
 */
function recordArgs(record: RecordOutput, map: readonly string[]): string[] {
  const segmentList = tokenEscape(tokenEscape(`file:${join(record.dir, SEGMENT_LIST)}`));
  const segmentPattern = tokenEscape(`file:${join(record.dir.replace(/%/g, '%%'), 'seg-%06d.ts')}`);
  const segments = `[f=segment:onfail=ignore:segment_time=${record.segmentSeconds}:segment_format=mpegts:segment_list=${segmentList}:segment_list_type=csv]${segmentPattern}`;
  return [...(map.length ? map : ['-map', '0:v:0']), '-c:v', 'copy', '-f', 'tee', `${segments}|[f=null]-`];
}

/** The full ffmpeg argument list (without the binary) for a source. */
export function decodeArgs(spec: SourceSpec, info: VideoInfo, size: OutputSize, ioTimeoutMs?: number, live?: boolean, record?: RecordOutput, seek?: Seek): string[] {
  const map = info.streamIndex >= 0 ? ['-map', `0:${info.streamIndex}`] : [];
  const recording = record ? recordArgs(record, map) : [];
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'info',
    // Recording: both outputs on the input's own timeline (from 0), not each shifted to its own first packet; the
    // stream copy keeps packets the decoder cannot use yet (before the first keyframe), which would offset them.
    ...(record ? ['-copyts', '-start_at_zero'] : []),
    // With -copyts, -ss counts from the input's start time, as a whole decode's timeline does.
    ...(seek ? ['-copyts', '-ss', Math.max(0, seek.seconds).toFixed(6)] : []),
    ...inputArgs(spec, ioTimeoutMs, live),
    ...map,
    '-an',
    '-sn',
    '-dn',
    '-vf',
    `scale=${size.width}:${size.height}:flags=area,showinfo`,
    '-fps_mode',
    'passthrough',
    '-pix_fmt',
    'rgb24',
    '-f',
    'rawvideo',
    'pipe:1',
    ...recording,
  ];
}

/**
 * Decodes a source frame by frame. The consumer pulls: ffmpeg is paused (blocked on its stdout pipe) while the
 * consumer works on a frame. Leaving the loop early or aborting kills ffmpeg.
 */
export async function* readFrames(source: string | SourceSpec, options: DecodeOptions): AsyncGenerator<DecodedFrame, void, undefined> {
  const spec = toSourceSpec(source, options.allowedProtocols);
  if (!Number.isInteger(options.longSide) || options.longSide < 2) {
    throw new RangeError(`longSide must be an integer ≥ 2, got ${options.longSide}`);
  }
  options.signal?.throwIfAborted();
  const info = options.info ?? (await probeVideo(spec, { ...options, signal: options.signal }));
  options.signal?.throwIfAborted();
  const size = outputSize(info.displayWidth, info.displayHeight, options.longSide);
  const live = options.live ?? spec.kind === 'live';
  if (options.seek && (options.record || spec.kind !== 'file')) throw new Error('only a file decode can seek, and not while recording');
  const args = decodeArgs(spec, info, size, options.ioTimeoutMs, live, options.record, options.seek);
  const reader = new FfmpegFrameReader(ffmpegBinary(options), args, size, {
    name: describeSource(spec),
    shift: options.seek?.shift,
    signal: options.signal,
    stallTimeoutMs: options.stallTimeoutMs ?? (live ? 30_000 : undefined),
    stats: options.stats,
    onRecordFailure: options.record?.onFailure,
  });
  try {
    options.onSpawn?.(reader.child, args);
    for (;;) {
      const frame = await reader.next();
      if (frame === null) return;
      yield frame;
    }
  } finally {
    await reader.close();
  }
}

/**
 * rxjs view of {@link readFrames}. The next frame is read after the subscriber's `next` returned; unsubscribing or
 * aborting kills ffmpeg at once (even while it is waiting for a live source).
 */
export function decodeFrames(source: string | SourceSpec, options: DecodeOptions): Observable<DecodedFrame> {
  return concatMapFrames(source, options, (frame) => of(frame));
}

/**
 * Decodes and maps each frame through `project` (like rxjs concatMap), but reads the next frame from ffmpeg only
 * after the previous projection completed: slow asynchronous work pauses ffmpeg instead of queueing frames.
 */
export function concatMapFrames<R>(
  source: string | SourceSpec,
  options: DecodeOptions,
  project: (frame: DecodedFrame) => ObservableInput<R>,
): Observable<R> {
  return new Observable<R>((subscriber) => {
    const stop = linkedAbort(options.signal);
    let inner: Subscription | undefined;
    let releaseInner: (() => void) | undefined;
    void (async () => {
      try {
        for await (const frame of readFrames(source, { ...options, signal: stop.signal })) {
          if (subscriber.closed) return;
          await new Promise<void>((resolve, reject) => {
            releaseInner = resolve;
            inner = from(project(frame)).subscribe({
              next: (value) => subscriber.next(value),
              error: reject,
              complete: resolve,
            });
          });
          if (subscriber.closed) return;
        }
        subscriber.complete();
      } catch (error) {
        if (!subscriber.closed) subscriber.error(error);
      } finally {
        stop.dispose();
      }
    })();
    return () => {
      inner?.unsubscribe();
      releaseInner?.(); // lets the loop above see `closed`, leave, and run readFrames' cleanup
      stop.abort();
    };
  });
}

function linkedAbort(parent: AbortSignal | undefined): { signal: AbortSignal; abort(): void; dispose(): void } {
  const controller = new AbortController();
  const onParentAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    abort: () => controller.abort(new DOMException('Unsubscribed', 'AbortError')),
    dispose: () => parent?.removeEventListener('abort', onParentAbort),
  };
}

interface ShowinfoEntry {
  n: number;
  pts: number;
  width?: number;
  height?: number;
}

const SHOWINFO_CONFIG = /^\[Parsed_showinfo_\d+ @ 0x[0-9a-fA-F]+\] config in time_base: (\d+)\/(\d+)/;
const SHOWINFO_FRAME = /^\[Parsed_showinfo_\d+ @ 0x[0-9a-fA-F]+\] n:\s*(\d+) pts:\s*(-?\d+|NOPTS) pts_time:(\S+)(?:.*? s:(\d+)x(\d+))?/;

/** The tee muxer gave up the recording output (recordArgs), the first of its two. */
const RECORD_FAILED = /^\[tee @ 0x[0-9a-fA-F]+\] Slave muxer #0 failed: (.*?), continuing with/;

/** One ffmpeg process and the bookkeeping to turn its two output pipes into frames. */
class FfmpegFrameReader {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  private readonly frameBytes: number;
  private readonly entries: ShowinfoEntry[] = [];
  private readonly tail = new LineTail(15);
  private readonly stats: DecodeStats | undefined;
  private stderrRest = '';
  private timeBase: { num: number; den: number } | null = null;
  private expectedN = 0;
  private stdoutEnded = false;
  private closed = false;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private failure: Error | null = null;
  private killedByUs = false;
  private stalled = false;
  private waiter: (() => void) | null = null;
  private index = 0;
  private readonly closedPromise: Promise<void>;
  private readonly onAbort: () => void;

  constructor(
    command: string,
    args: string[],
    private readonly size: OutputSize,
    private readonly opts: {
      name: string;
      signal?: AbortSignal | undefined;
      stallTimeoutMs?: number | undefined;
      stats?: DecodeStats | undefined;
      /** seconds to subtract from ffmpeg's timestamps (Seek.shift), in whole ticks */
      shift?: number | undefined;
      onRecordFailure?: ((reason: string) => void) | undefined;
    },
  ) {
    this.frameBytes = size.width * size.height * 3;
    this.stats = opts.stats;
    if (this.stats) Object.assign(this.stats, { framesFiltered: 0, framesEmitted: 0, bytesEmitted: 0 });
    // The showinfo lines are parsed: make sure no ANSI colour codes get into them whatever the environment says.
    const env: NodeJS.ProcessEnv = { ...process.env, AV_LOG_FORCE_NOCOLOR: '1' };
    delete env['AV_LOG_FORCE_COLOR'];
    delete env['AV_LOG_FORCE_256COLOR'];
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, env });

    // stdout stays in paused mode: data is pulled with read(frameBytes) when the consumer asks for a frame.
    this.child.stdout.on('readable', () => this.wake());
    this.child.stdout.on('end', () => {
      this.stdoutEnded = true;
      this.wake();
    });
    this.child.stdout.on('error', (error) => this.fail(error));
    // stderr must always flow (ffmpeg would block on it otherwise); it is small: a few lines per frame.
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => this.onStderr(chunk));
    this.child.stderr.on('error', () => undefined);

    this.closedPromise = new Promise<void>((resolve) => {
      this.child.on('error', (cause) => {
        this.fail(new DecodeError('spawn-failed', `Cannot run ${command}: ${cause.message}`, { cause }));
        this.closed = true;
        resolve();
      });
      this.child.on('close', (code, signal) => {
        if (this.stderrRest !== '') this.onLine(this.stderrRest);
        this.stderrRest = '';
        this.exit = { code, signal };
        this.closed = true;
        this.wake();
        resolve();
      });
    });

    this.onAbort = () => {
      this.kill();
      this.wake();
    };
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The next frame, or null at the clean end of the stream. */
  async next(): Promise<DecodedFrame | null> {
    const data = await this.readFrameBytes();
    if (data === null) {
      await this.closedPromise;
      this.throwIfFailed();
      this.checkExit();
      return null;
    }
    const receivedAt = Date.now();
    const entry = await this.nextEntry();
    if (entry.width !== undefined && (entry.width !== this.size.width || entry.height !== this.size.height)) {
      throw new DecodeError(
        'protocol-mismatch',
        `${this.opts.name}: ffmpeg produced ${entry.width}x${entry.height} frames, expected ${this.size.width}x${this.size.height}.`,
      );
    }
    const frame: DecodedFrame = { index: this.index++, pts: entry.pts, width: this.size.width, height: this.size.height, data, receivedAt };
    if (this.stats) {
      this.stats.framesEmitted++;
      this.stats.bytesEmitted += data.length;
    }
    return frame;
  }

  /** Kills ffmpeg if it still runs and waits until it is gone. */
  async close(): Promise<void> {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    if (!this.closed) this.kill();
    await this.closedPromise;
  }

  private kill(): void {
    if (this.closed || this.exit) return;
    this.killedByUs = true;
    this.child.kill('SIGKILL');
    // Unblocks a pending read; 'close' follows once the process is reaped.
    this.child.stdout.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Waits for any event (data, end, exit, abort, stall timer). */
  private async waitForEvent(watchStall: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.waiter = resolve;
      const ms = this.opts.stallTimeoutMs;
      if (watchStall && ms !== undefined && ms > 0) {
        timer = setTimeout(() => {
          this.stalled = true;
          this.kill();
          resolve();
        }, ms);
      }
    });
    clearTimeout(timer);
  }

  private throwIfFailed(): void {
    const { signal } = this.opts;
    if (signal?.aborted) throw signal.reason;
    if (this.stalled) {
      throw new DecodeError(
        'timeout',
        `${this.opts.name}: no data from ffmpeg for ${this.opts.stallTimeoutMs} ms; the source seems dead.` + this.stderrSuffix(),
        { stderr: this.tail.toString() },
      );
    }
    if (this.failure) throw this.failure;
  }

  private checkExit(): void {
    const exit = this.exit;
    if (!exit || this.killedByUs) return;
    if (exit.code !== 0) {
      const status = exit.code === null ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
      throw new DecodeError('ffmpeg-failed', `ffmpeg ${status} while decoding ${this.opts.name}.${this.stderrSuffix()}`, {
        stderr: this.tail.toString(),
        exitCode: exit.code,
      });
    }
  }

  private stderrSuffix(): string {
    const t = this.tail.toString();
    return t === '' ? '' : `\nffmpeg said:\n${t}`;
  }

  private async readFrameBytes(): Promise<Buffer | null> {
    const stdout = this.child.stdout;
    for (;;) {
      this.throwIfFailed();
      if (this.killedByUs) {
        // Killed for a reason that throwIfFailed did not report (close() racing a pending read): treat as the end.
        return null;
      }
      const chunk = stdout.read(this.frameBytes) as Buffer | null;
      if (chunk !== null) {
        if (chunk.length === this.frameBytes) return chunk;
        // Only at the end of the stream does read(n) return fewer bytes.
        await this.closedPromise;
        this.throwIfFailed();
        this.checkExit();
        throw new DecodeError(
          'protocol-mismatch',
          `${this.opts.name}: ffmpeg's output ended inside a frame (${chunk.length} of ${this.frameBytes} bytes).`,
        );
      }
      if (this.stdoutEnded || stdout.readableEnded || (this.closed && stdout.readableLength === 0)) return null;
      await this.waitForEvent(true);
    }
  }

  private async nextEntry(): Promise<ShowinfoEntry> {
    for (;;) {
      const entry = this.entries.shift();
      if (entry) return entry;
      this.throwIfFailed();
      if (this.closed) {
        this.checkExit();
        throw new DecodeError(
          'protocol-mismatch',
          `${this.opts.name}: frame ${this.index} arrived without a showinfo timestamp line on ffmpeg's stderr.`,
        );
      }
      await this.waitForEvent(false);
    }
  }

  private onStderr(chunk: string): void {
    const text = this.stderrRest + chunk;
    const lines = text.split(/\r\n|\n|\r/);
    this.stderrRest = lines.pop() ?? '';
    if (this.stderrRest.length > 1 << 20) this.stderrRest = this.stderrRest.slice(-4096);
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    const frame = SHOWINFO_FRAME.exec(line);
    if (frame) {
      this.onShowinfoFrame(frame);
      return;
    }
    const config = SHOWINFO_CONFIG.exec(line);
    if (config) {
      this.timeBase = { num: Number(config[1]), den: Number(config[2]) };
      this.expectedN = 0; // a (re)configured graph starts counting again
      return;
    }
    const recordFailure = RECORD_FAILED.exec(line);
    if (recordFailure) this.opts.onRecordFailure?.(recordFailure[1]!);
    if (!line.startsWith('[Parsed_showinfo_')) this.tail.push(line);
  }

  private onShowinfoFrame(m: RegExpExecArray): void {
    const n = Number(m[1]);
    if (n !== this.expectedN) {
      this.fail(
        new DecodeError('protocol-mismatch', `${this.opts.name}: showinfo frame numbers jumped from ${this.expectedN - 1} to ${n}.`),
      );
      return;
    }
    this.expectedN = n + 1;
    const ptsText = m[2] as string;
    const ptsTime = Number(m[3]);
    let pts: number;
    if (ptsText === 'NOPTS') {
      pts = NaN;
    } else if (this.timeBase && this.timeBase.den > 0) {
      const ticks = Number(ptsText);
      const printed = (ticks * this.timeBase.num) / this.timeBase.den;
      const shiftTicks = Math.round(((this.opts.shift ?? 0) * this.timeBase.den) / this.timeBase.num);
      pts = ((ticks - shiftTicks) * this.timeBase.num) / this.timeBase.den;
      // pts_time is printed with 6 significant digits: it must agree to that precision.
      if (Number.isFinite(ptsTime) && Math.abs(printed - ptsTime) > 1e-5 * Math.max(1, Math.abs(printed)) + 1e-6) {
        this.fail(
          new DecodeError(
            'protocol-mismatch',
            `${this.opts.name}: showinfo pts ${ptsText} × ${this.timeBase.num}/${this.timeBase.den} disagrees with pts_time ${m[3]}.`,
          ),
        );
        return;
      }
    } else {
      pts = ptsTime - (this.opts.shift ?? 0); // no time base line seen: fall back to the rounded value
    }
    const entry: ShowinfoEntry = { n, pts };
    if (m[4] !== undefined) {
      entry.width = Number(m[4]);
      entry.height = Number(m[5]);
    }
    this.entries.push(entry);
    if (this.stats) this.stats.framesFiltered++;
    this.wake();
  }
}
