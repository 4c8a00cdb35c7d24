import WebSocket from 'ws';
import { waitFor } from './serve.js';

export interface Received {
  at: number;
  message: Record<string, unknown> & { type: string };
}

/** A WebSocket client of /v1/live that records every message with its arrival time. */
export class LiveClient {
  readonly received: Received[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.received.push({ at: Date.now(), message: JSON.parse(String(data)) }));
  }

  /** Connects to a service at `url` (http://host:port) with `token`. */
  static async connect(server: { url: string; token: string }): Promise<LiveClient> {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/live?token=${server.token}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new LiveClient(ws);
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  of(type: string): Received[] {
    return this.received.filter((r) => r.message.type === type);
  }

  next(type: string, timeoutMs: number, after = 0): Promise<Received> {
    return waitFor(() => this.of(type)[after], timeoutMs, `a "${type}" message`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
