import * as ort from 'onnxruntime-node';
import { defaultLogger, type Logger } from '../log.js';

export type Device = 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'webgpu'];

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads for the CPU provider; 0 lets ONNX Runtime decide (one per core). */
  threads?: number;
  /** false: a provider that fails to start throws instead of falling back to the cpu */
  fallback?: boolean;
  logger?: Logger;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  /** The provider the session really runs on, after any fallback. */
  device: Device;
}

export function parseDevice(value: string): Device {
  if ((DEVICES as readonly string[]).includes(value)) return value as Device;
  throw new Error(`unknown device "${value}": choose one of ${DEVICES.join(', ')}`);
}

/**
 * Creates an inference session on the requested provider. onnxruntime-node throws when a provider's
 * libraries or device are missing instead of falling back, so the fallback to CPU is done here, and said.
 */
export async function createSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<CreatedSession> {
  const device = options.device ?? 'cpu';
  const logger = options.logger ?? defaultLogger;
  if (device !== 'cpu') {
    const unavailable = providerUnavailableReason(device);
    if (unavailable) {
      if (options.fallback === false) throw new Error(`device ${device} is not available (${unavailable})`);
      logger.warn(`device ${device} is not available (${unavailable}); falling back to cpu`);
    } else {
      try {
        const session = await create(model, sessionOptionsFor(device, options));
        logger.info(`running on ${device}`);
        return { session, device };
      } catch (error) {
        if (options.fallback === false) throw error;
        logger.warn(`device ${device} failed to start (${firstLine(error)}); falling back to cpu`);
      }
    }
  }
  return { session: await create(model, sessionOptionsFor('cpu', options)), device: 'cpu' };
}

/** ONNX Runtime's options for a session of the product on one provider. */
export function sessionOptionsFor(device: Device, options: Pick<SessionOptions, 'threads'> = {}): ort.InferenceSession.SessionOptions {
  if (device === 'cuda') keepFullFloatPrecision();
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.threads ?? 0,
    interOpNumThreads: 1,
    // ONNX Runtime's worker threads spin between operators by default, which starves the ffmpeg decoders
    // and publishers sharing the cores (a live stream then stalls); waiting costs little per operator.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/**
 * ONNX Runtime's CUDA provider lets cuDNN and cuBLAS use TF32 (10-bit mantissa) for float convolutions. DASR's
 * boxes come from thresholds on the saliency maps, and on the device check TF32 moved boxes by up to 14 px
 * against the cpu, so an index built on a GPU would differ from one built on a cpu; with TF32 off the GPU's boxes
 * equal the cpu's. onnxruntime-node passes no CUDA provider options but the device id, so the switch is the
 * environment variable NVIDIA's libraries read when they load. A value the user set is kept. In a worker
 * thread process.env is a private copy unless the worker shares the environment (SHARE_ENV, worker-rpc.ts).
 */
function keepFullFloatPrecision(): void {
  process.env.NVIDIA_TF32_OVERRIDE ??= '0';
}

function create(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

/** Why a provider cannot be used at all in this installation, or null when it may be tried. */
export function providerUnavailableReason(device: Device): string | null {
  const backend = ort.listSupportedBackends().find((b) => b.name === device);
  if (!backend) return `onnxruntime-node ${ort.env.versions.common} has no ${device} provider`;
  return null;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);
}
