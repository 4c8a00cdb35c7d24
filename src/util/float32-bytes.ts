/**
 * Float32 vectors as little-endian bytes: the one byte format of stored vectors (the feature BLOBs in SQLite,
 * the base64 vectors of a saved tracker state), whatever the host's byte order. Round-trips bit for bit.
 */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** float32 little-endian bytes of `v`: a view on its memory (not a copy) on little-endian hosts, a new buffer otherwise. */
export function float32ToLEBytes(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const out = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i], i * 4);
  return out;
}

/**
 * Decodes float32 little-endian bytes into `out` from element `at` on, or into a new array. `bytes` may sit at any
 * offset (a Buffer from the shared pool, a subarray): the values are copied, never viewed. RangeError when the
 * byte length is not a multiple of 4 or the values do not fit `out`.
 */
export function float32FromLEBytes(bytes: Uint8Array, out?: Float32Array, at = 0): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`${bytes.byteLength} bytes are not a whole number of float32 values`);
  const n = bytes.byteLength / 4;
  const target = out ?? new Float32Array(n);
  if (at + n > target.length) throw new RangeError(`${n} float32 values do not fit at ${at} in an array of ${target.length}`);
  if (LITTLE_ENDIAN) {
    new Uint8Array(target.buffer, target.byteOffset + at * 4, bytes.byteLength).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) target[at + i] = view.getFloat32(i * 4, true);
  }
  return target;
}
