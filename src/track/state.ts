/**
 * Exact JSON encoding of a TrackerState, for committing it next to the ingestion's progress. JSON.stringify alone
 * would turn each Float32Array into an object of indices (which the Tracker refuses on restore); here vectors are
 * base64 of their little-endian float32 bytes, so they round-trip bit for bit, and numbers are plain JSON numbers
 * (JSON round-trips finite doubles exactly).
 */
import type { Box } from '../detect/box.js';
import { float32FromLEBytes, float32ToLEBytes } from '../util/float32-bytes.js';
import { TRACKER_STATE_VERSION, type Track, type TrackerState } from './tracker.js';

interface EncodedTrack {
  id: number;
  firstT: number;
  lastT: number;
  keyframes: number;
  missed: number;
  best: { t: number; box: Box; score: number; feature: string };
  lastBox: Box;
  descriptor: string;
}

interface EncodedState {
  version: number;
  nextTrackId: number;
  lastT: number | null;
  tracks: EncodedTrack[];
  ended: EncodedTrack[];
}

export function encodeTrackerState(state: TrackerState): string {
  const encoded: EncodedState = {
    version: state.version,
    nextTrackId: state.nextTrackId,
    lastT: state.lastT,
    tracks: state.tracks.map(encodeTrack),
    ended: state.ended.map(encodeTrack),
  };
  return JSON.stringify(encoded);
}

/** Parses encodeTrackerState's output; the Tracker constructor validates the content. */
export function decodeTrackerState(json: string): TrackerState {
  const parsed = JSON.parse(json) as EncodedState;
  if (typeof parsed !== 'object' || parsed === null || parsed.version !== TRACKER_STATE_VERSION) {
    throw new RangeError(`not a tracker state of version ${TRACKER_STATE_VERSION}`);
  }
  if (!Array.isArray(parsed.tracks) || !Array.isArray(parsed.ended)) throw new RangeError('tracker state: tracks and ended must be arrays');
  return {
    version: TRACKER_STATE_VERSION,
    nextTrackId: parsed.nextTrackId,
    lastT: parsed.lastT,
    tracks: parsed.tracks.map(decodeTrack),
    ended: parsed.ended.map(decodeTrack),
  };
}

function encodeTrack(track: Track): EncodedTrack {
  return {
    id: track.id,
    firstT: track.firstT,
    lastT: track.lastT,
    keyframes: track.keyframes,
    missed: track.missed,
    best: { t: track.best.t, box: [...track.best.box], score: track.best.score, feature: encodeVector(track.best.feature) },
    lastBox: [...track.lastBox],
    descriptor: encodeVector(track.descriptor),
  };
}

function decodeTrack(track: EncodedTrack): Track {
  return {
    id: track.id,
    firstT: track.firstT,
    lastT: track.lastT,
    keyframes: track.keyframes,
    missed: track.missed,
    best: { t: track.best.t, box: track.best.box, score: track.best.score, feature: decodeVector(track.best.feature) },
    lastBox: track.lastBox,
    descriptor: decodeVector(track.descriptor),
  };
}

function encodeVector(v: Float32Array): string {
  return float32ToLEBytes(v).toString('base64');
}

function decodeVector(text: string): Float32Array {
  if (typeof text !== 'string') throw new RangeError('tracker state: vectors must be base64 strings');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new RangeError('tracker state: vector byte length is not a multiple of 4');
  // Copied into a fresh, aligned array (Buffer.from may return a slice of a shared pool at any offset).
  return float32FromLEBytes(bytes);
}

/** The tracker state committed with a video's last keyframe (a resumed run restores it); empty when there is none. */
export function committedTrackerState(state: { trackerState?: unknown } | undefined): Partial<TrackerState> {
  return typeof state?.trackerState === 'string' ? decodeTrackerState(state.trackerState) : {};
}
