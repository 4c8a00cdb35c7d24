/**
 * Keyframes that need no new DASR pass. A static camera or a pause sends the same picture keyframe after
 * keyframe; running the network again would find the same regions. The gate compares each keyframe with the last
 * one that was analysed and lets it through only when some part of the picture changed.
 *
 * The comparison: luma and chroma (BT.601 Y, Cb, Cr) averaged over square blocks of `block` pixels of the frame
 * as decoded for the detector; a keyframe is analysed when one block's mean luma moved by more than the
 * threshold, or its chroma by more than twice it, in levels (0..255). Chroma too: a red object on a grey
 * background of the same luma changes no luma mean (measured: 3.3 levels of luma, 56 of Cr). Twice for chroma:
 * 4:2:0 video carries chroma at a quarter of the resolution and its noise is about double. Averaging removes the
 * pixel noise of compression and sensor: on still photos under strong temporal noise (ffmpeg noise=alls=8,
 * H.264 at CRF 23) no 8×8 mean moved by more than 2.2 levels of luma or 4.3 of chroma between keyframes. An
 * object entering changes the blocks it covers: a 16-px object in a 720p frame is 6.4 px at long side 512 and
 * covers at least 10 of some block's 64 pixels, so at a contrast of 30 levels that block moves by more than the
 * default 4. Being compared with the last *analysed* keyframe, slow changes (light, drift) add up until they
 * pass too.
 */
export interface StillGateOptions {
  /** a block's luma must move by more than this (levels), or its chroma by twice it, for the keyframe to be analysed; 0 analyses every keyframe */
  threshold: number;
  /** block side in pixels */
  block?: number;
}

export const DEFAULT_STILL_THRESHOLD = 4;
const DEFAULT_BLOCK = 8;

export interface GateFrame {
  width: number;
  height: number;
  /** rgb24 */
  data: Uint8Array;
}

export class StillGate {
  private reference: { width: number; height: number; means: Float32Array } | null = null;
  private readonly block: number;

  constructor(private readonly options: StillGateOptions) {
    this.block = options.block ?? DEFAULT_BLOCK;
    if (!(options.threshold >= 0 && options.threshold <= 255)) throw new RangeError(`still threshold must be in [0, 255] grey levels, got ${options.threshold}`);
    if (!(Number.isInteger(this.block) && this.block >= 1)) throw new RangeError(`block must be a positive integer, got ${this.block}`);
  }

  /**
   * Whether the frame must be analysed: the first one, a different size, or a block that moved by more than the
   * threshold since the last analysed frame, which it then becomes.
   */
  needsAnalysis(frame: GateFrame): boolean {
    if (this.options.threshold === 0) return true;
    const means = blockMeans(frame, this.block);
    const previous = this.reference;
    if (previous && previous.width === frame.width && previous.height === frame.height && largestDifference(previous.means, means) <= this.options.threshold) return false;
    this.reference = { width: frame.width, height: frame.height, means };
    return true;
  }
}

/**
 * Mean luma, and half the mean chroma, of each block (the last row and column of blocks may be partial), as
 * [cell·3 + (Y, Cb/2, Cr/2)]: halved so that one threshold compares chroma at twice the luma's.
 */
export function blockMeans(frame: GateFrame, block: number): Float32Array {
  const columns = Math.ceil(frame.width / block);
  const rows = Math.ceil(frame.height / block);
  const sums = new Float64Array(columns * rows * 3);
  const counts = new Uint32Array(columns * rows);
  const { width, height, data } = frame;
  for (let y = 0; y < height; y++) {
    const rowBase = Math.floor(y / block) * columns;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const cell = rowBase + Math.floor(x / block);
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      sums[cell * 3]! += 0.299 * r + 0.587 * g + 0.114 * b;
      sums[cell * 3 + 1]! += 0.5 * (-0.168736 * r - 0.331264 * g + 0.5 * b);
      sums[cell * 3 + 2]! += 0.5 * (0.5 * r - 0.418688 * g - 0.081312 * b);
      counts[cell]!++;
    }
  }
  return Float32Array.from(sums, (sum, k) => sum / counts[Math.floor(k / 3)]!);
}

function largestDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]! - b[i]!));
  return largest;
}
