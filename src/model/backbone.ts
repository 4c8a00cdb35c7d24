import * as ort from 'onnxruntime-node';
import { defaultLogger, type Logger } from '../log.js';
import { ensureModels } from './provision.js';
import { createSession, type Device } from './session.js';

/** A CHW float tensor of one image (batch 1). */
export interface FeatureMap {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

export interface BackboneOutputs {
  res5a: FeatureMap;
  res5c: FeatureMap;
  logits: Float32Array;
  probabilities: Float32Array;
}

export interface BackboneOptions {
  device?: Device;
  threads?: number;
  cacheDir?: string;
  logger?: Logger;
}

/** Stride of res5 feature maps relative to the network input. */
export const RES5_STRIDE = 32;

/** The ResNet-50 forward and the DASR top-down pass, each in its own ONNX Runtime session. */
export class Backbone {
  private constructor(
    private readonly forwardSession: ort.InferenceSession,
    private readonly topDownSession: ort.InferenceSession,
    readonly device: Device,
  ) {}

  static async load(options: BackboneOptions = {}): Promise<Backbone> {
    const logger = options.logger ?? defaultLogger;
    const paths = await ensureModels({ cacheDir: options.cacheDir, logger });
    const sessionOptions = { device: options.device, threads: options.threads, logger };
    const forward = await createSession(paths.backbone, sessionOptions);
    // The top-down session follows the forward's provider so a fallback is decided (and logged) once.
    const topDown = await createSession(paths.topdown, { ...sessionOptions, device: forward.device });
    return new Backbone(forward.session, topDown.session, forward.device);
  }

  /** Forward pass of one image given as an NCHW caffe-normalised tensor. */
  async forward(image: Float32Array, height: number, width: number): Promise<BackboneOutputs> {
    const result = await this.forwardSession.run({ image: new ort.Tensor('float32', image, [1, 3, height, width]) });
    return {
      res5a: featureMap(result.res5a!),
      res5c: featureMap(result.res5c!),
      logits: result.logits!.data as Float32Array,
      probabilities: result.probabilities!.data as Float32Array,
    };
  }

  /**
   * The top-down probability pass from K res5c positions of one image in one batched run.
   * Returns K saliency maps of height × width (the input size), concatenated.
   */
  async topDown(image: Float32Array, height: number, width: number, seeds: Float32Array, mapHeight: number, mapWidth: number): Promise<Float32Array> {
    const count = seeds.length / (mapHeight * mapWidth);
    const result = await this.topDownSession.run({
      image: new ort.Tensor('float32', image, [1, 3, height, width]),
      seeds: new ort.Tensor('float32', seeds, [count, 1, mapHeight, mapWidth]),
    });
    return result.saliency!.data as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all([this.forwardSession.release(), this.topDownSession.release()]);
  }
}

function featureMap(tensor: ort.Tensor): FeatureMap {
  const [, channels, height, width] = tensor.dims as number[];
  return { channels: channels!, height: height!, width: width!, data: tensor.data as Float32Array };
}
