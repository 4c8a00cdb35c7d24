/**
 * Pictures of search hits: one hit's best frame with its box ({@link hitThumbnail}), and a contact sheet of many
 * hits ({@link contactSheet}). Frames come from {@link grabFrame} (the frame shown at the hit's best time, scaled in
 * ffmpeg); boxes and text are an SVG overlay composited by sharp, drawn the way src/image/annotate.ts draws
 * detections (its drawDetections for a single hit; for the sheet the same colour, stroke-inside-the-box and
 * monospace label conventions, with escapeXml for the text).
 */

import { basename } from 'node:path';

import sharp, { type OverlayOptions } from 'sharp';

import type { Box } from '../detect/box.js';
import type { VideoInfo } from '../decode/probe.js';
import { probeVideo } from '../decode/probe.js';
import { drawDetections, escapeXml } from '../image/annotate.js';
import type { TrackHit } from '../search/search.js';
import { CLIP_BOX_COLOUR } from './clip.js';
import { ClipError } from './errors.js';
import { grabFrame, MAX_GRAB_WIDTH, type GrabbedFrame } from './frame-grab.js';

/** What a thumbnail needs from a search hit: a track hit, or a shot hit (no track, the box the whole frame). */
export type ThumbnailHit = Pick<TrackHit, 'path' | 'score'> & { track?: number | null; best: Pick<TrackHit['best'], 't' | 'box'> };

export interface HitThumbnailOptions {
  /** Width in pixels (height follows the display aspect). Default: the video's display width. */
  width?: number;
  signal?: AbortSignal;
}

/** "12.3" for 12.34 s. */
function seconds(t: number): string {
  return t.toFixed(1);
}

/** JPEG of the frame shown at `t` seconds, nothing drawn on it (a shot's keyframe: the whole frame is the hit). */
export async function frameThumbnail(path: string, t: number, options: HitThumbnailOptions = {}): Promise<Buffer> {
  const frame = await grabFrame(path, t, { width: options.width, signal: options.signal });
  return sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/**
 * JPEG of the hit's best frame with its box and the label "#1 t=12.3s score 0.870" (drawDetections' label: rank,
 * then our text, then the score). Errors as {@link grabFrame} (DecodeError for an unreadable video, ClipError
 * 'out-of-range' when the best time is outside it).
 */
export async function hitThumbnail(hit: ThumbnailHit, options: HitThumbnailOptions = {}): Promise<Buffer> {
  const info = await probeVideo(hit.path, { signal: options.signal });
  const frame = await grabFrame(hit.path, hit.best.t, { width: options.width, signal: options.signal, info });
  const box = scaleToFrame(hit.best.box, info, frame);
  return drawDetections(frame, [{ box, score: hit.score, label: `t=${seconds(hit.best.t)}s score` }], { format: 'jpeg' });
}

function scaleToFrame(box: Box, info: Pick<VideoInfo, 'displayWidth' | 'displayHeight'>, frame: { width: number; height: number }): Box {
  const sx = frame.width / info.displayWidth;
  const sy = frame.height / info.displayHeight;
  return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
}

export interface ContactSheetOptions {
  /** Tiles per row; default ⌈√n⌉, at most 8. */
  columns?: number;
  /** Width of each thumbnail in pixels; default 240. */
  thumbWidth?: number;
  /** Header line; default "<n> hits". */
  title?: string;
  /** Default 'jpeg'. */
  format?: 'jpeg' | 'png';
  /** Frames grabbed in parallel; default 4. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Most hits one sheet takes. */
export const MAX_SHEET_HITS = 1000;
/** Largest sheet side in pixels (well inside JPEG's 65535). */
export const MAX_SHEET_SIDE = 32767;

const MARGIN = 12;
const GAP = 8;
const TITLE_FONT = 18;
const FONT_FAMILY = 'DejaVu Sans Mono, Menlo, Consolas, monospace';
const SHEET_BACKGROUND = { r: 32, g: 32, b: 32 };

export interface SheetLayout {
  width: number;
  height: number;
  columns: number;
  rows: number;
  thumbWidth: number;
  /** Height of each tile's picture area (pictures are letterboxed into thumbWidth × this). */
  imageHeight: number;
  captionFont: number;
  captionHeight: number;
  headerHeight: number;
  /** Top-left corner of tile i's picture area. */
  tile(i: number): { left: number; top: number };
}

/** Geometry of a contact sheet: header, then rows of tiles (picture area + a two-line caption). */
export function sheetLayout(count: number, columns: number, thumbWidth: number, imageHeight: number): SheetLayout {
  const cols = Math.max(1, Math.min(columns, Math.max(1, count)));
  const rows = Math.max(1, Math.ceil(count / cols));
  const captionFont = Math.max(10, Math.min(14, Math.round(thumbWidth / 18)));
  const captionHeight = 2 * Math.round(captionFont * 1.35) + 6;
  const headerHeight = Math.round(TITLE_FONT * 1.4) + 2 * MARGIN - 4;
  const cellHeight = imageHeight + captionHeight;
  return {
    width: 2 * MARGIN + cols * thumbWidth + (cols - 1) * GAP,
    height: headerHeight + rows * cellHeight + (rows - 1) * GAP + MARGIN,
    columns: cols,
    rows,
    thumbWidth,
    imageHeight,
    captionFont,
    captionHeight,
    headerHeight,
    tile: (i) => ({
      left: MARGIN + (i % cols) * (thumbWidth + GAP),
      top: headerHeight + Math.floor(i / cols) * (cellHeight + GAP),
    }),
  };
}

interface Tile {
  frame?: GrabbedFrame;
  /** Picture position inside the sheet. */
  left: number;
  top: number;
  box?: Box;
  error?: string;
}

/**
 * A grid of hits, one tile each: the best frame with the box, and a caption "#rank video-name" /
 * "t=12.3s track 7 0.870" below it; a header line with the title. Tiles keep the videos' display aspect, letterboxed
 * into a common cell. A hit whose video cannot be read gets a placeholder tile saying why (the sheet still renders);
 * an empty list gives a sheet saying "no hits". Returns JPEG (default) or PNG bytes.
 */
export async function contactSheet(hits: readonly ThumbnailHit[], options: ContactSheetOptions = {}): Promise<Buffer> {
  if (hits.length > MAX_SHEET_HITS) throw new ClipError('invalid-argument', `a contact sheet takes at most ${MAX_SHEET_HITS} hits, got ${hits.length}`);
  const thumbWidth = options.thumbWidth ?? 240;
  if (!Number.isInteger(thumbWidth) || thumbWidth < 32 || thumbWidth > 1920) {
    throw new ClipError('invalid-argument', `thumbWidth must be an integer from 32 to 1920, got ${String(thumbWidth)}`);
  }
  const columns = options.columns ?? Math.min(8, Math.max(1, Math.ceil(Math.sqrt(hits.length))));
  if (!Number.isInteger(columns) || columns < 1 || columns > 100) {
    throw new ClipError('invalid-argument', `columns must be an integer from 1 to 100, got ${String(columns)}`);
  }
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
  const signal = options.signal;

  // Probe every distinct video once; the tallest display aspect (capped at 16:9 portrait) sets the picture area.
  const probes = new Map<string, Promise<VideoInfo>>();
  const infoOf = (path: string): Promise<VideoInfo> => {
    let p = probes.get(path);
    if (!p) {
      p = probeVideo(path, { signal });
      p.catch(() => undefined);
      probes.set(path, p);
    }
    return p;
  };
  const infos = await Promise.all(hits.map((h) => infoOf(h.path).then((info) => info, (error: unknown) => error as Error)));
  let imageHeight = 0;
  for (const info of infos) {
    if (info instanceof Error) continue;
    imageHeight = Math.max(imageHeight, Math.round((thumbWidth * info.displayHeight) / info.displayWidth));
  }
  if (imageHeight === 0) imageHeight = Math.round((thumbWidth * 9) / 16);
  imageHeight = Math.min(imageHeight, Math.round((thumbWidth * 16) / 9));

  const layout = sheetLayout(hits.length, columns, thumbWidth, imageHeight);
  if (layout.width > MAX_SHEET_SIDE || layout.height > MAX_SHEET_SIDE) {
    throw new ClipError(
      'invalid-argument',
      `the sheet would be ${layout.width}×${layout.height} pixels (at most ${MAX_SHEET_SIDE} per side): use more columns or smaller thumbnails`,
    );
  }

  const tiles: Tile[] = new Array(hits.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= hits.length) return;
      signal?.throwIfAborted();
      const hit = hits[i];
      const cell = layout.tile(i);
      const info = infos[i];
      if (info instanceof Error) {
        tiles[i] = { ...cell, error: describeError(info) };
        continue;
      }
      const scale = Math.min(thumbWidth / info.displayWidth, imageHeight / info.displayHeight);
      const width = Math.max(1, Math.min(MAX_GRAB_WIDTH, Math.round(info.displayWidth * scale)));
      try {
        const frame = await grabFrame(hit.path, hit.best.t, { width, info, signal });
        // Rounding may make a picture a pixel taller than the area: crop rather than overflow the caption.
        const shown = frame.height > imageHeight ? cropTop(frame, imageHeight) : frame;
        const left = cell.left + Math.floor((thumbWidth - shown.width) / 2);
        const top = cell.top + Math.floor((imageHeight - shown.height) / 2);
        const box = scaleToFrame(hit.best.box, info, frame);
        tiles[i] = { frame: shown, left, top, box: [box[0] + left, box[1] + top, box[2] + left, box[3] + top] };
      } catch (error) {
        if (signal?.aborted) throw error;
        tiles[i] = { ...cell, error: describeError(error) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, hits.length)) }, worker));

  const title = options.title ?? `${hits.length} hit${hits.length === 1 ? '' : 's'}`;
  const svg = sheetSvg(layout, hits, tiles, title);
  const composites: OverlayOptions[] = [];
  for (const tile of tiles) {
    if (!tile.frame) continue;
    composites.push({ input: tile.frame.data, raw: { width: tile.frame.width, height: tile.frame.height, channels: 3 }, left: tile.left, top: tile.top });
  }
  composites.push({ input: Buffer.from(svg, 'utf8'), left: 0, top: 0 });
  const sheet = sharp({ create: { width: layout.width, height: layout.height, channels: 3, background: SHEET_BACKGROUND } }).composite(composites);
  return options.format === 'png' ? sheet.png().toBuffer() : sheet.jpeg({ quality: 85, chromaSubsampling: '4:4:4' }).toBuffer();
}

function cropTop(frame: GrabbedFrame, height: number): GrabbedFrame {
  return { ...frame, height, data: frame.data.subarray(0, frame.width * height * 3) };
}

function describeError(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'string') {
    return `unavailable (${(error as { code: string }).code})`;
  }
  return 'unavailable';
}

function sheetSvg(layout: SheetLayout, hits: readonly ThumbnailHit[], tiles: readonly Tile[], title: string): string {
  const { width, height, thumbWidth, imageHeight, captionFont } = layout;
  const charWidth = captionFont * 0.6;
  const pad = 3;
  const fit = (text: string, chars: number): string => (text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`);
  const parts: string[] = [];
  const titleChars = Math.floor((width - 2 * MARGIN) / (TITLE_FONT * 0.6));
  parts.push(
    `<text x="${MARGIN}" y="${MARGIN + TITLE_FONT}" font-family="${FONT_FAMILY}" font-size="${TITLE_FONT}" font-weight="bold" fill="#ffffff">` +
      `${escapeXml(fit(hits.length === 0 ? `${title} — no hits` : title, titleChars))}</text>`,
  );
  const stroke = thumbWidth >= 400 ? 3 : 2;
  const captionChars = Math.max(4, Math.floor((thumbWidth - 2 * pad) / charWidth));
  const lineH = Math.round(captionFont * 1.35);
  hits.forEach((hit, i) => {
    const cell = layout.tile(i);
    const tile = tiles[i];
    if (!tile.frame) {
      parts.push(
        `<rect x="${cell.left}" y="${cell.top}" width="${thumbWidth}" height="${imageHeight}" fill="#3a3a3a"/>`,
        `<text x="${cell.left + thumbWidth / 2}" y="${cell.top + imageHeight / 2}" text-anchor="middle" font-family="${FONT_FAMILY}" ` +
          `font-size="${captionFont}" fill="#dddddd">${escapeXml(fit(tile.error ?? 'unavailable', captionChars))}</text>`,
      );
    } else {
      parts.push(
        `<rect x="${cell.left}" y="${cell.top}" width="${thumbWidth}" height="${imageHeight}" fill="#000000" fill-opacity="0"/>`,
      );
      if (tile.box) {
        // Clip to the picture; the stroke lies inside the box, as in drawDetections.
        const l = tile.left;
        const t = tile.top;
        const r = tile.left + tile.frame.width;
        const b = tile.top + tile.frame.height;
        const x1 = clamp(Math.min(tile.box[0], tile.box[2]), l, r);
        const x2 = clamp(Math.max(tile.box[0], tile.box[2]), l, r);
        const y1 = clamp(Math.min(tile.box[1], tile.box[3]), t, b);
        const y2 = clamp(Math.max(tile.box[1], tile.box[3]), t, b);
        if (x2 > x1 && y2 > y1) {
          parts.push(
            `<rect x="${fmt(x1 + stroke / 2)}" y="${fmt(y1 + stroke / 2)}" width="${fmt(Math.max(x2 - x1 - stroke, 0))}" ` +
              `height="${fmt(Math.max(y2 - y1 - stroke, 0))}" fill="none" stroke="${CLIP_BOX_COLOUR}" stroke-width="${stroke}" shape-rendering="crispEdges"/>`,
          );
        }
      }
    }
    const name = basename(hit.path) || hit.path;
    const track = hit.track === null ? 'no track' : `track ${hit.track}`;
    const line1 = fit(`#${i + 1} ${name}`, captionChars);
    const line2 = fit(`t=${seconds(hit.best.t)}s ${track} ${formatScore(hit.score)}`, captionChars);
    const y0 = cell.top + imageHeight + 2;
    parts.push(
      `<text x="${cell.left + pad}" y="${y0 + lineH - 3}" font-family="${FONT_FAMILY}" font-size="${captionFont}" fill="#f0f0f0">${escapeXml(line1)}</text>`,
      `<text x="${cell.left + pad}" y="${y0 + 2 * lineH - 3}" font-family="${FONT_FAMILY}" font-size="${captionFont}" fill="#bbbbbb">${escapeXml(line2)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

function formatScore(score: number): string {
  return Number.isFinite(score) ? score.toFixed(3) : String(score);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
