/** Worker thread entry: owns the ONNX Runtime sessions, whose `run` blocks the thread it is called on. */
import { workerData } from 'node:worker_threads';
import { serveRpc } from '../util/worker-rpc.js';
import { Backbone } from '../model/backbone.js';
import { createLogger } from '../log.js';
import { Dasr } from './dasr.js';
import { loadWhitening } from './whitening.js';
import type { DetectorRequest, DetectorWorkerData, WireImage } from './detector-thread.js';
import type { DecodedImage } from '../image/load.js';

const data = workerData as DetectorWorkerData;
const ready = (async () => {
  const backbone = await Backbone.load({ ...data.backbone, logger: createLogger(data.logLevel) });
  return { backbone, dasr: new Dasr(backbone, data.config, data.whiteningPath ? loadWhitening(data.whiteningPath) : null) };
})();

serveRpc<DetectorRequest>(
  async (req) => {
    const { backbone, dasr } = await ready;
    switch (req.op) {
      case 'ready':
        return { device: backbone.device, config: dasr.config, featureDim: dasr.featureDim, topDown: dasr.topDown };
      case 'detect':
        return dasr.detect(fromWire(req.image));
      case 'describe':
        return dasr.describe(fromWire(req.image), req.box);
      case 'describe-crop':
        return dasr.describeCrop(fromWire(req.image), req.frame);
      case 'close':
        await backbone.release();
        return null;
    }
  },
  (req) => req.op === 'close',
);

function fromWire(image: WireImage): DecodedImage {
  return { width: image.width, height: image.height, data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength) };
}
