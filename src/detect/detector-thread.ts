import type { DecodedImage } from '../image/load.js';
import type { BackboneOptions } from '../model/backbone.js';
import type { Device } from '../model/session.js';
import type { TopDownLevel } from '../model/provision.js';
import type { LogLevel } from '../log.js';
import { RpcClient, startWorker } from '../util/worker-rpc.js';
import type { Box } from './box.js';
import type { DasrConfig } from './config.js';
import type { Detection } from './dasr.js';
import type { Detector } from './detector.js';

export interface DetectorWorkerData {
  backbone: Omit<BackboneOptions, 'logger'>;
  config: Partial<DasrConfig>;
  whiteningPath?: string;
  logLevel?: LogLevel;
}

/** Image pixels travel as a plain Uint8Array so their buffer can be transferred, not copied. */
export type WireImage = { width: number; height: number; data: Uint8Array };

export type DetectorRequest =
  | { op: 'ready' }
  | { op: 'detect'; image: WireImage }
  | { op: 'describe'; image: WireImage; box?: Box }
  | { op: 'describe-crop'; image: WireImage; frame: { width: number; height: number } }
  | { op: 'close' };

/**
 * DASR in a worker thread: ONNX Runtime's `run` blocks the thread that calls it for the whole inference
 * (seconds on a CPU), which would freeze decoding, live streams and the API if done on the main thread.
 */
export class DetectorThread implements Detector {
  private constructor(
    private readonly rpc: RpcClient<DetectorRequest>,
    readonly config: DasrConfig,
    readonly device: Device,
    readonly featureDim: number,
    readonly topDown: TopDownLevel,
  ) {}

  static async start(data: DetectorWorkerData): Promise<DetectorThread> {
    const rpc = new RpcClient<DetectorRequest>(startWorker(import.meta.url, 'detector-worker', data), 'detector');
    try {
      const { device, config, featureDim, topDown } = await rpc.call<{ device: Device; config: DasrConfig; featureDim: number; topDown: TopDownLevel }>({ op: 'ready' });
      return new DetectorThread(rpc, config, device, featureDim, topDown);
    } catch (error) {
      await rpc.close();
      throw error;
    }
  }

  detect(image: DecodedImage): Promise<Detection> {
    const wire = toWire(image);
    return this.rpc.call<Detection>({ op: 'detect', image: wire.image }, wire.transfer);
  }

  describe(image: DecodedImage, box?: Box): Promise<Float32Array> {
    const wire = toWire(image);
    return this.rpc.call<Float32Array>({ op: 'describe', image: wire.image, box }, wire.transfer);
  }

  describeCrop(crop: DecodedImage, frame: { width: number; height: number }): Promise<Float32Array> {
    const wire = toWire(crop);
    return this.rpc.call<Float32Array>({ op: 'describe-crop', image: wire.image, frame: { width: frame.width, height: frame.height } }, wire.transfer);
  }

  /** See RpcClient.onFailure. */
  onFailure(listener: (error: Error) => void): void {
    this.rpc.onFailure(listener);
  }

  /** Ends the thread at once, as a crash would. */
  terminate(): Promise<void> {
    return this.rpc.terminate();
  }

  close(): Promise<void> {
    return this.rpc.close({ op: 'close' });
  }
}

/** A copy of the pixels in a buffer of their own (Node's small Buffers share a pool that must not move). */
function toWire(image: DecodedImage): { image: WireImage; transfer: ArrayBuffer[] } {
  const data = new Uint8Array(image.data.length);
  data.set(image.data);
  return { image: { width: image.width, height: image.height, data }, transfer: [data.buffer] };
}
