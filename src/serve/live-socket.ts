/**
 * WebSocket subscriptions at /v1/live. A client sends JSON messages:
 *   {"type": "subscribe", "image": "<base64 JPEG/PNG>", "box"?: [x, y, w, h], "threshold"?: 0.8,
 *    "streams"?: [ids], "updates"?: false, "persist"?: false, "name"?: "...", "requestId"?: "..."}
 *   {"type": "resume", "subscription": "<id>", "since"?: "<ISO time>"}   (a persisted subscription, e.g. after a
 *      restart, or on another replica of a cluster; `since`: the processedAt of the last message received, so that
 *      what the client has already is not sent again)
 *   {"type": "unsubscribe", "subscription": "<id>"}
 *   {"type": "ping"}
 * and receives "subscribed" / "resumed" / "unsubscribed" / "pong" replies, "error" messages with the API's
 * error shape, and pushes: "match", "update", "ended", "dropped" (see subscriptions.ts).
 * Sending never outruns the socket: messages leave only while the socket's send buffer is below HIGH_WATER; the
 * rest wait in the subscription's bounded outbox, which drops its oldest messages (with a notice) when full.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeImage } from '../image/load.js';
import { describeQuery, typicalFrameSize } from '../search/describe-query.js';
import { mayAccess, presentedToken, type Principal, type TokenCheck } from './auth.js';
import { ApiError } from './errors.js';
import { parseBoxField, toApiError } from './app.js';
import type { DasrService } from './service.js';
import { DEFAULT_MATCH_THRESHOLD } from '../live/live-matcher.js';

export const LIVE_PATH = '/v1/live';
const HIGH_WATER = 1 * 2 ** 20;
const RETRY_MS = 50;
const MAX_SUBSCRIPTIONS_PER_CONNECTION = 32;
/** Across the service: every subscription costs a descriptor, an outbox and a row of the match product. */
export const MAX_SUBSCRIPTIONS = 10_000;
const CLOSE_GRACE_MS = 1000;

export class LiveSockets {
  private readonly server: WebSocketServer;

  constructor(
    private readonly service: DasrService,
    private readonly tokens: TokenCheck,
  ) {
    // base64 inflates by 4/3; the JSON around the image is small
    this.server = new WebSocketServer({ noServer: true, maxPayload: Math.ceil(service.config.maxImageBytes * 1.34) + 64 * 1024 });
  }

  /** Handles an HTTP upgrade; false when it is not for /v1/live (the caller closes the socket). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((request.url ?? '').split('?')[0] !== LIVE_PATH) return false;
    if (!this.tokens.accepts(presentedToken(request.headers, request.url, true))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n' + JSON.stringify(new ApiError('unauthorized', 'a valid API token is required').toJSON()));
      return true;
    }
    const principal = this.tokens.identify(presentedToken(request.headers, request.url, true))!;
    this.server.handleUpgrade(request, socket, head, (ws) => new LiveConnection(ws, this.service, principal));
    return true;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.close(1001, 'service stopping');
    // A client that stopped reading never completes the closing handshake: cut it after a short grace.
    const cut = setTimeout(() => {
      for (const client of this.server.clients) client.terminate();
    }, CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.server.clients.size === 0) resolve();
        else setTimeout(check, 50);
      };
      check();
    });
    clearTimeout(cut);
  }
}

class LiveConnection {
  private readonly subscriptions = new Set<string>();
  private pumpTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** subscribe requests are handled one at a time: each decodes an image and waits for the query detector */
  private subscribing: Promise<void> = Promise.resolve();
  private pendingSubscribes = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly service: DasrService,
    private readonly principal: Principal,
  ) {
    service.openSockets++;
    ws.on('message', (data, isBinary) => void this.onMessage(data as Buffer, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', () => ws.terminate());
  }

  private async onMessage(data: Buffer, isBinary: boolean): Promise<void> {
    let requestId: unknown;
    try {
      if (isBinary) throw new ApiError('bad-request', 'send JSON text messages');
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new ApiError('bad-request', 'the message is not valid JSON');
      }
      if (!message || typeof message !== 'object' || Array.isArray(message)) throw new ApiError('bad-request', 'a message is a JSON object with a "type"');
      requestId = typeof message.requestId === 'string' ? message.requestId.slice(0, 200) : undefined;
      switch (message.type) {
        case 'subscribe': {
          this.checkRoom(1 + this.pendingSubscribes);
          this.pendingSubscribes++;
          const run = this.subscribing.then(() => this.subscribe(message, requestId));
          this.subscribing = run.catch(() => undefined).finally(() => this.pendingSubscribes--);
          return await run;
        }
        case 'resume':
          return await this.resume(message, requestId);
        case 'unsubscribe':
          return await this.unsubscribe(message, requestId);
        case 'ping':
          return this.reply({ type: 'pong', requestId });
        default:
          throw new ApiError('bad-request', 'type must be one of subscribe, resume, unsubscribe, ping');
      }
    } catch (error) {
      const apiError = toApiError(error);
      if (apiError.code === 'internal') this.service.logger.error(`live socket: ${error instanceof Error ? error.stack : String(error)}`);
      this.reply({ type: 'error', requestId, ...apiError.toJSON() });
    }
  }

  private async subscribe(message: Record<string, unknown>, requestId: unknown): Promise<void> {
    const allowed = new Set(['type', 'image', 'box', 'threshold', 'streams', 'updates', 'persist', 'name', 'requestId']);
    const unknown = Object.keys(message).filter((k) => !allowed.has(k));
    if (unknown.length) throw new ApiError('bad-request', `unknown field(s): ${unknown.join(', ')}`);
    if (typeof message.image !== 'string' || message.image.length === 0) throw new ApiError('bad-request', 'image must be a base64 string (JPEG, PNG or WebP)');
    let box: [number, number, number, number] | undefined;
    if (Array.isArray(message.box) && message.box.every((v) => typeof v === 'number')) box = parseBoxField(message.box.join(','));
    else if (typeof message.box === 'string') box = parseBoxField(message.box);
    else if (message.box !== undefined) throw new ApiError('bad-box', 'box must be [x, y, w, h] (four numbers, image pixels) or "x,y,w,h"');
    const threshold = message.threshold === undefined ? DEFAULT_MATCH_THRESHOLD : message.threshold;
    if (typeof threshold !== 'number' || !(threshold >= -1 && threshold <= 1)) throw new ApiError('bad-request', 'threshold must be a number in [-1, 1]');
    let streams: number[] | null = null;
    if (message.streams !== undefined && message.streams !== null) {
      if (!Array.isArray(message.streams) || message.streams.length > 1000 || !message.streams.every((s) => Number.isInteger(s) && (s as number) > 0)) {
        throw new ApiError('bad-request', 'streams must be an array of stream ids');
      }
      streams = message.streams as number[];
    }
    for (const flag of ['updates', 'persist'] as const) if (message[flag] !== undefined && typeof message[flag] !== 'boolean') throw new ApiError('bad-request', `${flag} must be true or false`);
    if (message.name !== undefined && (typeof message.name !== 'string' || message.name.length > 200)) throw new ApiError('bad-request', 'name must be a string of at most 200 characters');
    const bytes = Buffer.from(message.image, 'base64');
    if (bytes.length > this.service.config.maxImageBytes) throw new ApiError('too-large', `the image is larger than ${this.service.config.maxImageBytes} bytes`);
    const image = await decodeImage(bytes, { maxPixels: this.service.config.maxImagePixels });
    const vector = await describeQuery(this.service.queryDetector, image, box, await typicalFrameSize(this.service.store));
    if (this.closed) return;
    this.checkRoom(1);
    const info = await this.service.hub.create({ vector, threshold, streams, updates: message.updates === true, persist: message.persist === true, name: (message.name as string | undefined) ?? null, owner: this.principal.owner });
    if (this.closed) {
      // The client left while its subscription was being saved: a persisted one waits for it, any other goes.
      this.service.hub.detach(info.id);
      return;
    }
    this.subscriptions.add(info.id);
    this.service.hub.attach(info.id, () => this.pump(), () => this.removedElsewhere(info.id));
    this.reply({ type: 'subscribed', requestId, subscription: this.service.hub.get(info.id) });
  }

  private async resume(message: Record<string, unknown>, requestId: unknown): Promise<void> {
    const id = message.subscription;
    if (typeof id !== 'string') throw new ApiError('bad-request', 'subscription must be a subscription id');
    let since: number | undefined;
    if (message.since !== undefined) {
      since = typeof message.since === 'string' ? Date.parse(message.since) : Number.NaN;
      if (!Number.isFinite(since)) throw new ApiError('bad-request', 'since must be an ISO 8601 time: the processedAt of the last message received');
    }
    // Created on another replica of a cluster a moment ago: this one reads it now rather than at its next poll.
    if (!this.service.hub.get(id)) await this.service.hub.refresh();
    if (this.closed) return;
    const info = this.service.hub.get(id);
    if (!info || !mayAccess(this.principal, info.owner)) throw new ApiError('not-found', `no subscription ${id}`);
    if (this.subscriptions.has(id)) throw new ApiError('conflict', `subscription ${id} is already on this connection`);
    if (this.subscriptions.size >= MAX_SUBSCRIPTIONS_PER_CONNECTION) throw new ApiError('bad-request', `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`);
    // Registered before attaching: attach() calls the pump at once when messages waited while detached.
    this.subscriptions.add(id);
    if (!this.service.hub.attach(id, () => this.pump(), () => this.removedElsewhere(id), since)) {
      this.subscriptions.delete(id);
      throw new ApiError('conflict', `subscription ${id} is attached to another connection`);
    }
    this.reply({ type: 'resumed', requestId, subscription: this.service.hub.get(id) });
    this.pump();
  }

  /** The subscription was removed over HTTP: it leaves this connection, and the client is told. */
  private removedElsewhere(id: string): void {
    if (!this.subscriptions.delete(id)) return;
    this.reply({ type: 'unsubscribed', subscription: id, reason: 'removed' });
  }

  /** Refuses a subscription beyond the per-connection or the service-wide limit. */
  private checkRoom(adding: number): void {
    if (this.subscriptions.size + adding > MAX_SUBSCRIPTIONS_PER_CONNECTION) throw new ApiError('bad-request', `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`);
    if (this.service.hub.size + adding > MAX_SUBSCRIPTIONS) throw new ApiError('conflict', `the service holds its maximum of ${MAX_SUBSCRIPTIONS} subscriptions`);
  }

  private async unsubscribe(message: Record<string, unknown>, requestId: unknown): Promise<void> {
    const id = message.subscription;
    if (typeof id !== 'string' || !this.subscriptions.has(id)) throw new ApiError('not-found', `no subscription ${String(id)} on this connection`);
    this.subscriptions.delete(id);
    this.service.hub.detach(id);
    await this.service.hub.remove(id);
    this.reply({ type: 'unsubscribed', requestId, subscription: id });
  }

  /** Moves queued messages to the socket while its send buffer has room. */
  private pump(): void {
    if (this.closed || this.pumpTimer) return;
    for (;;) {
      if (this.ws.bufferedAmount >= HIGH_WATER) {
        this.pumpTimer = setTimeout(() => {
          this.pumpTimer = null;
          this.pump();
        }, RETRY_MS);
        return;
      }
      let sentOne = false;
      for (const id of this.subscriptions) {
        const message = this.service.hub.take(id);
        if (!message) continue;
        const { processedMs: _p, frameMs: _f, ...wire } = message;
        this.ws.send(JSON.stringify(wire));
        this.service.hub.sent(message);
        sentOne = true;
      }
      if (!sentOne) return;
    }
  }

  private reply(message: Record<string, unknown>): void {
    if (!this.closed) this.ws.send(JSON.stringify(message));
  }

  private onClose(): void {
    this.closed = true;
    this.service.openSockets--;
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    for (const id of this.subscriptions) this.service.hub.detach(id);
    this.subscriptions.clear();
  }
}
