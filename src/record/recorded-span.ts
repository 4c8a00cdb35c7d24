import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { SegmentRecord } from '../index/database.js';
import { ffmpegBinary } from '../decode/ffmpeg-args.js';

export interface RecordedSpan {
  /** the segments to read, in order: one connection's, so their timestamps run on */
  segments: SegmentRecord[];
  /** index time of the span's first frame, and of its end */
  tStart: number;
  tEnd: number;
}

/**
 * The recorded span around index time `at` among a run's segments overlapping a wanted window: the segments of the
 * connection that recorded `at` (another connection's restart their timestamps, so they cannot be joined).
 * null when nothing around `at` was recorded (or retention removed it).
 */
export function recordedSpan(overlapping: readonly SegmentRecord[], at: number): RecordedSpan | null {
  const holder = overlapping.find((s) => s.tStart <= at && at < s.tEnd) ?? overlapping.find((s) => Math.abs(s.tEnd - at) < 1e-3);
  if (!holder) return null;
  const segments = overlapping.filter((s) => dirname(s.path) === dirname(holder.path)).sort((a, b) => a.tStart - b.tStart);
  return { segments, tStart: segments[0]!.tStart, tEnd: segments[segments.length - 1]!.tEnd };
}

/**
 * Runs `use` on the span's segments joined into one temporary Matroska file in `scratchDir` (its time 0 is
 * span.tStart), and removes the file afterwards.
 */
export async function withRecordedSpan<T>(dataDir: string, span: RecordedSpan, scratchDir: string, signal: AbortSignal, use: (file: string) => Promise<T>): Promise<T> {
  const file = join(scratchDir, `.span-${randomUUID()}.mkv`);
  try {
    await writeRecordedSpan(dataDir, span, file, signal);
    return await use(file);
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * Writes the span's segments as one Matroska file (`out`), time 0 at the span's start. MPEG-TS segments join byte by
 * byte, but ffmpeg cannot seek in the joined stream (a seek past its first second finds no frame), so they are
 * remuxed (stream copy, no re-encode) into a container with an index.
 */
async function writeRecordedSpan(dataDir: string, span: RecordedSpan, out: string, signal?: AbortSignal): Promise<void> {
  const ffmpeg = spawn(ffmpegBinary(), ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'mpegts', '-i', 'pipe:0', '-map', '0:v:0', '-c', 'copy', '-f', 'matroska', `file:${out}`], {
    stdio: ['pipe', 'ignore', 'pipe'],
    signal,
  });
  let stderr = '';
  ffmpeg.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()).length > 4000 && (stderr = stderr.slice(-4000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    ffmpeg.once('error', reject);
    ffmpeg.once('close', resolve);
  });
  // ffmpeg exiting early (a broken segment) breaks the pipe: its exit status says why.
  ffmpeg.stdin.on('error', () => undefined);
  try {
    for (const segment of span.segments) {
      for await (const chunk of createReadStream(join(dataDir, segment.path))) {
        if (ffmpeg.stdin.destroyed) break;
        if (!ffmpeg.stdin.write(chunk)) await Promise.race([once(ffmpeg.stdin, 'drain'), exited]);
      }
    }
  } finally {
    ffmpeg.stdin.end();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`ffmpeg could not join the recorded segments (${stderr.trim() || `exit status ${code}`})`);
}
