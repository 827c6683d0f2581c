import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import split from 'split2';
import type { Logger } from '../log/index.js';
import { type ControlReply, ControlRequest, MAX_LINE_BYTES } from './protocol.js';
import { socketAnswers } from './socket.js';

export type ControlHandler = (params: Record<string, unknown>) => unknown;
/** Starts a stream: `emit` sends one event to the client; the returned function ends the stream. */
export type ControlStream = (emit: (event: unknown) => void, params: Record<string, unknown>) => () => void;

/** Clients at once: technicians' commands and a few live views, never more than a handful. */
export const MAX_CONTROL_CLIENTS = 16;
/** Streams one connection may hold open. */
export const MAX_STREAMS_PER_CLIENT = 8;

export interface ControlServerOptions {
  path: string;
  logger: Logger;
  handlers: Record<string, ControlHandler>;
  streams: Record<string, ControlStream>;
}

/**
 * The gateway's local control socket: JSON lines over a unix socket that only the service's user and
 * group may open (mode 0660). It is how the `educard` command reads live state and acts on the
 * hardware the running service owns; it never accepts a connection from the network. Even so a
 * client is bounded: a line is cut at MAX_LINE_BYTES as it arrives, not after it was buffered, and
 * clients and their streams are capped, so a stuck or hostile local process cannot starve the gate.
 */
export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: ControlServerOptions) {}

  async start(): Promise<void> {
    const { path } = this.options;
    if (await socketAnswers(path)) {
      throw new Error(`another gateway is already running on the control socket ${path}`);
    }
    // A socket file left by a process that died: nobody answers on it, so it can go.
    await rm(path, { force: true });
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o660);
    this.server = server;
    this.options.logger.info({ socket: path }, 'control socket listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.options.path, { force: true });
  }

  private serve(socket: Socket): void {
    if (this.sockets.size >= MAX_CONTROL_CLIENTS) {
      this.options.logger.warn(
        { clients: this.sockets.size },
        'control connection refused: too many clients',
      );
      socket.end(`${JSON.stringify({ id: null, error: { message: 'too many control clients' } })}\n`);
      return;
    }
    this.sockets.add(socket);
    const endings: (() => void)[] = [];
    const send = (reply: ControlReply) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.sockets.delete(socket);
      for (const end of endings) end();
    });
    const lines = socket.pipe(split(/\r?\n/, { maxLength: MAX_LINE_BYTES }));
    // split2 fails as soon as a line has grown past the limit without ending: the rest is not read.
    lines.on('error', () => {
      socket.unpipe(lines);
      const reply: ControlReply = {
        id: null,
        error: { message: `request longer than ${MAX_LINE_BYTES} bytes` },
      };
      if (!socket.destroyed) socket.end(`${JSON.stringify(reply)}\n`, () => socket.destroy());
    });
    lines.on('data', (line: string) => {
      let request: ControlRequest;
      try {
        request = ControlRequest.parse(JSON.parse(line));
      } catch (error) {
        send({ id: null, error: { message: `not a control request: ${(error as Error).message}` } });
        return;
      }
      const { id, method, params = {} } = request;
      const stream = this.options.streams[method];
      if (stream) {
        if (endings.length >= MAX_STREAMS_PER_CLIENT) {
          send({ id, error: { message: `at most ${MAX_STREAMS_PER_CLIENT} streams per connection` } });
          return;
        }
        endings.push(stream((event) => send({ id, event }), params));
        return;
      }
      const handler = this.options.handlers[method];
      if (!handler) {
        send({ id, error: { message: `unknown method ${method}` } });
        return;
      }
      Promise.resolve()
        .then(() => handler(params))
        .then(
          (result) => send({ id, result: result ?? null }),
          (error: unknown) => {
            this.options.logger.warn({ method, err: (error as Error).message }, 'control request failed');
            send({ id, error: { message: (error as Error).message } });
          },
        );
    });
  }
}
