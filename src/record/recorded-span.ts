import { createReadStream, createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { SegmentRecord } from '../index/database.js';

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

/** Writes the span's segments one after the other into `out` (MPEG-TS joins byte by byte). */
export async function writeRecordedSpan(dataDir: string, span: RecordedSpan, out: string): Promise<void> {
  const sink = createWriteStream(out);
  for (const segment of span.segments) await pipeline(createReadStream(join(dataDir, segment.path)), sink, { end: false });
  await new Promise<void>((resolve, reject) => sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
}
