/**
 * Picture output: draw detected regions over an image (SVG overlay composited by sharp) and encode it.
 */

import sharp from 'sharp';
import { assertDecodedImage, type DecodedImage } from './load.js';

export interface DetectionRegion {
  /** [x1, y1, x2, y2] in the image's pixel coordinates (pixel edges: [0, 0, width, height] is the whole image). */
  box: [number, number, number, number];
  score: number;
  /** [x, y] of the activation peak, in pixel coordinates. */
  peak?: [number, number];
  /** Class name or description, shown after the rank. */
  label?: string;
}

export interface DrawOptions {
  /** Output format; default 'png'. */
  format?: 'png' | 'jpeg';
}

/**
 * Distinct, colour-blind-friendlier colours (Tableau 10 order, grey left out since it reads as "no colour").
 * Region with rank k uses PALETTE[k - 1]; beyond the palette, hues step by the golden angle.
 */
const PALETTE = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#17becf',
] as const;

/**
 * Draw each region: its box, a dot at its peak and a label "#rank label score". Ranks are by descending score
 * (ties keep input order); rank 1 is drawn last so it stays on top. Returns an encoded PNG (default) or JPEG of
 * the same size as `image`.
 */
export async function drawDetections(
  image: DecodedImage,
  regions: readonly DetectionRegion[],
  options: DrawOptions = {},
): Promise<Buffer> {
  assertDecodedImage(image);
  const format = options.format ?? 'png';
  if (regions.length === 0) return encodeImage(image, format);
  const svg = buildOverlaySvg(image.width, image.height, regions);
  const pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).composite([
    { input: Buffer.from(svg, 'utf8'), top: 0, left: 0 },
  ]);
  return format === 'png' ? pipeline.png().toBuffer() : pipeline.jpeg({ quality: 90 }).toBuffer();
}

/** Encode RGB pixels as PNG (lossless) or JPEG (`quality` 1–100, default 90). */
export async function encodeImage(image: DecodedImage, format: 'png' | 'jpeg', quality = 90): Promise<Buffer> {
  assertDecodedImage(image);
  const pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  return format === 'png' ? pipeline.png().toBuffer() : pipeline.jpeg({ quality }).toBuffer();
}

function buildOverlaySvg(width: number, height: number, regions: readonly DetectionRegion[]): string {
  const minSide = Math.min(width, height);
  const stroke = minSide >= 500 ? 3 : 2;
  const fontSize = Math.max(10, Math.min(18, Math.round(minSide / 40)));
  const charWidth = fontSize * 0.6; // monospace advance
  const labelH = Math.round(fontSize * 1.3);
  const pad = Math.round(fontSize * 0.3);
  const dotR = stroke + 1.5;

  regions.forEach((r, i) => {
    if (!r.box.every(Number.isFinite)) throw new RangeError(`region ${i}: box has a non-finite coordinate: [${r.box.join(', ')}]`);
    if (r.peak && !r.peak.every(Number.isFinite)) throw new RangeError(`region ${i}: peak has a non-finite coordinate`);
  });

  // Rank by score (stable), draw from the last rank to the first so the best region is on top.
  const ranked = regions.map((region, index) => ({ region, index })).sort((a, b) => {
    const d = (Number.isNaN(b.region.score) ? -Infinity : b.region.score) - (Number.isNaN(a.region.score) ? -Infinity : a.region.score);
    return d !== 0 && !Number.isNaN(d) ? d : a.index - b.index;
  });

  const parts: string[] = [];
  for (let k = ranked.length - 1; k >= 0; k--) {
    const { region } = ranked[k];
    const rank = k + 1;
    const colour = colourForRank(rank);
    const textColour = isLight(colour) ? '#000000' : '#ffffff';

    const x1 = clamp(Math.min(region.box[0], region.box[2]), 0, width);
    const x2 = clamp(Math.max(region.box[0], region.box[2]), 0, width);
    const y1 = clamp(Math.min(region.box[1], region.box[3]), 0, height);
    const y2 = clamp(Math.max(region.box[1], region.box[3]), 0, height);
    // Keep the whole stroke inside the box (the box edges are the outer edges of the stroke).
    const rw = Math.max(x2 - x1 - stroke, 0);
    const rh = Math.max(y2 - y1 - stroke, 0);
    parts.push(
      `<rect x="${fmt(x1 + stroke / 2)}" y="${fmt(y1 + stroke / 2)}" width="${fmt(rw)}" height="${fmt(rh)}" ` +
        `fill="none" stroke="${colour}" stroke-width="${stroke}" shape-rendering="crispEdges"/>`,
    );

    if (region.peak) {
      const [px, py] = region.peak;
      parts.push(
        `<circle cx="${fmt(px)}" cy="${fmt(py)}" r="${fmt(dotR)}" fill="${colour}" stroke="${textColour}" stroke-width="1"/>`,
      );
    }

    const text = `#${rank}${region.label !== undefined && region.label !== '' ? ` ${region.label}` : ''} ${formatScore(region.score)}`;
    const labelW = Math.ceil(text.length * charWidth) + 2 * pad;
    // Above the box when there is room, otherwise just inside its top edge; never past the right edge.
    const ly = y1 - labelH >= 0 ? y1 - labelH : Math.min(y1, Math.max(0, height - labelH));
    const lx = Math.max(0, Math.min(x1, width - labelW));
    parts.push(
      `<rect x="${fmt(lx)}" y="${fmt(ly)}" width="${labelW}" height="${labelH}" fill="${colour}" fill-opacity="0.85"/>`,
      `<text x="${fmt(lx + pad)}" y="${fmt(ly + labelH - pad - fontSize * 0.1)}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" ` +
        `font-size="${fontSize}" fill="${textColour}">${escapeXml(text)}</text>`,
    );
  }

  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    parts.join('') +
    '</svg>'
  );
}

/** Escape text for SVG/XML content and attributes; drops characters XML 1.0 forbids (controls, lone surrogates). */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function colourForRank(rank: number): string {
  if (rank <= PALETTE.length) return PALETTE[rank - 1];
  const hue = ((rank - PALETTE.length) * 137.508) % 360;
  return hslToHex(hue, 0.7, 0.5);
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number): string => {
    const k = (n + h / 30) % 12;
    const v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

function isLight(hex: string): boolean {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  return 0.299 * r + 0.587 * g + 0.114 * b > 150;
}

function formatScore(score: number): string {
  if (!Number.isFinite(score)) return String(score);
  const abs = Math.abs(score);
  return abs !== 0 && (abs < 0.001 || abs >= 1e6) ? score.toExponential(2) : score.toFixed(abs < 10 ? 3 : abs < 1000 ? 1 : 0);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
