import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A live source on loopback for tests: ffmpeg plays a file in real time (looping) as MPEG-TS, and a small
 * HTTP server hands the bytes to every connected client from the moment it connects, like a camera's
 * HTTP stream. `stop()` kills ffmpeg and drops the server (clients see the source vanish); `start()`
 * brings both back on the same port.
 */
export class LivePublisher {
  private ffmpeg: ChildProcess | null = null;
  private server: Server | null = null;
  private readonly clients = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly file: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/live.ts`;
  }

  async start(): Promise<void> {
    // Re-encoded with a short GOP and in-band headers, as a camera does, so a client joining at any moment
    // can start decoding within half a second.
    const encode = ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '12', '-x264-params', 'repeat-headers=1'];
    this.ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', this.file, '-an', ...encode, '-f', 'mpegts', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.ffmpeg.stdout!.on('data', (chunk: Buffer) => {
      for (const client of this.clients) client.write(chunk);
    });
    this.server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'video/mp2t' });
      this.clients.add(response);
      response.on('close', () => this.clients.delete(response));
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
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
