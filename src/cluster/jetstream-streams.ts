import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiError, type StreamConfig } from '@nats-io/jetstream';

/** Creates a JetStream stream when the server has none of that name; an existing one is left as it is. */
export async function ensureStream(nc: NatsConnection, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.add(config);
  }
}
