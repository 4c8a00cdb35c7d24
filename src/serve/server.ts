/**
 * `dasr serve`: the service on one port — HTTP API, WebSocket subscriptions and the web UI.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { buildApp } from './app.js';
import { TokenCheck } from './auth.js';
import type { ServeConfig } from './config.js';
import { LiveSockets } from './live-socket.js';
import { DasrService } from './service.js';

export interface RunningServer {
  /** http://host:port */
  url: string;
  service: DasrService;
  close(): Promise<void>;
}

export async function startServer(config: ServeConfig, logger: Logger): Promise<RunningServer> {
  const service = await DasrService.start(config, logger);
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(service);
  } catch (error) {
    await service.close();
    throw error;
  }
  const sockets = new LiveSockets(service, new TokenCheck(config.tokens));
  app.server.on('upgrade', (request, socket, head) => {
    if (!sockets.handleUpgrade(request, socket, head)) socket.destroy();
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await service.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${address.port}`,
    service,
    close: () =>
      (closing ??= (async () => {
        await sockets.close();
        await app.close();
        await service.close();
      })()),
  };
}
