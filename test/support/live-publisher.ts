import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// Re-encoded with a short GOP and in-band headers, as a camera does, so a client joining at any moment can start
// decoding within half a second.
const ENCODE = ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '12', '-x264-params', 'repeat-headers=1'];

/**
 * A live source on loopback for tests: ffmpeg plays a file in real time (looping) as MPEG-TS, and a small
 * HTTP server hands the bytes to every connected client from the moment it connects, like a camera's
 * HTTP stream. `stop()` kills ffmpeg and drops the server (clients see the source vanish); `start()`
 * brings both back on the same port.
 *
 * With `playsFromStart: n`, each of the first n connections gets its own ffmpeg that plays the file once from its
 * first frame (a probe and the decoder then both see the whole video), and later connections are refused with 404,
 * like a camera that went away: an appearance in the file is then seen exactly once. `readRate` below 1 plays it
 * slower than real time, so that a busy machine still analyses frames while the object is in view.
 */
export class LivePublisher {
  private ffmpeg: ChildProcess | null = null;
  private server: Server | null = null;
  private readonly clients = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private playsLeft: number;
  port = 0;

  constructor(
    private readonly file: string,
    private readonly options: { playsFromStart?: number; readRate?: number } = {},
  ) {
    this.playsLeft = options.playsFromStart ?? 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/live.ts`;
  }

  async start(): Promise<void> {
    if (this.options.playsFromStart !== undefined) return this.listen((_request, response) => this.playOnce(response));
    this.ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', this.file, '-an', ...ENCODE, '-f', 'mpegts', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.ffmpeg.stdout!.on('data', (chunk: Buffer) => {
      for (const client of this.clients) client.write(chunk);
    });
    await this.listen((_request, response) => {
      response.writeHead(200, { 'content-type': 'video/mp2t' });
      this.clients.add(response);
      response.on('close', () => this.clients.delete(response));
    });
  }

  private async listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<void> {
    this.server = createServer(handler);
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  private playOnce(response: ServerResponse): void {
    if (this.playsLeft <= 0) {
      response.writeHead(404).end();
      return;
    }
    this.playsLeft--;
    const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-readrate', String(this.options.readRate ?? 1), '-i', this.file, '-an', ...ENCODE, '-f', 'mpegts', 'pipe:1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    response.writeHead(200, { 'content-type': 'video/mp2t' });
    ffmpeg.stdout.pipe(response);
    response.on('close', () => ffmpeg.kill('SIGKILL'));
  }

  async stop(): Promise<void> {
    this.ffmpeg?.kill('SIGKILL');
    this.ffmpeg = null;
    for (const socket of this.sockets) socket.destroy();
    this.clients.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
