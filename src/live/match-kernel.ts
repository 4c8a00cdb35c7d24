import * as ort from 'onnxruntime-node';
import { GraphBuilder, ints } from '../model/onnx/builder.js';
import { createSession } from '../model/session.js';
import { matchScores } from './match-scores.js';

/** The S × R cosine matrix of matchScores, computed somewhere: in JavaScript, or off the event loop. */
export interface MatchKernel {
  scores(subscriptions: Float32Array, regions: Float32Array, dim: number): Promise<Float32Array>;
}

/** matchScores as is: for tests and a handful of subscriptions (it runs on the calling thread). */
export const javascriptKernel: MatchKernel = {
  scores: (subscriptions, regions, dim) => Promise.resolve(matchScores(subscriptions, regions, dim)),
};

/**
 * The matrix product as a one-node ONNX model on ONNX Runtime: its GEMM (vectorised, blocked for the cache) runs
 * on ONNX Runtime's threads while the event loop goes on, where the JavaScript loop took the loop for ~0.1 s per
 * keyframe at 2 000 subscriptions and grows with their number (`npm run bench -- matching`).
 */
export class OnnxMatchKernel implements MatchKernel {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** `threads`: ONNX Runtime intra-op threads (the DASR threads have the other cores). */
  static async create(threads = 1): Promise<OnnxMatchKernel> {
    const b = new GraphBuilder('match_scores');
    const subscriptions = b.input('subscriptions', ['subscriptions', 'dim']);
    const regions = b.input('regions', ['regions', 'dim']);
    const transposed = b.op('Transpose', [regions], 'regions_t', { perm: ints([1, 0]) });
    b.output('scores', b.op('MatMul', [subscriptions, transposed], 'scores_mm'), ['subscriptions', 'regions']);
    const { session } = await createSession(b.toModel(), { threads });
    return new OnnxMatchKernel(session);
  }

  async scores(subscriptions: Float32Array, regions: Float32Array, dim: number): Promise<Float32Array> {
    if (!(Number.isInteger(dim) && dim > 0)) throw new RangeError(`bad dimension ${dim}`);
    if (subscriptions.length % dim !== 0 || regions.length % dim !== 0) throw new RangeError(`packed vectors must be a multiple of ${dim} floats`);
    if (subscriptions.length === 0 || regions.length === 0) return new Float32Array(0);
    const outputs = await this.session.run({
      subscriptions: new ort.Tensor('float32', subscriptions, [subscriptions.length / dim, dim]),
      regions: new ort.Tensor('float32', regions, [regions.length / dim, dim]),
    });
    return outputs.scores!.data as Float32Array;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
