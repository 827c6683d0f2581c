import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { type Admission, ConnectionLimits } from './connections.js';
import { limitConnections, timedHttpServer } from './http.js';
import type { MqttListenerLimits } from './limits.js';
import { listen } from './listen.js';
import { LimitedMqttStream } from './packets.js';
import { RefusalCounter, type WarnLogger } from './refusals.js';

/** Where a broker takes a new connection: aedes's `handle`. */
export type ConnectionHandler = (stream: Duplex, request?: IncomingMessage) => void;

export interface BrokerListenersOptions {
  handle: ConnectionHandler;
  limits: MqttListenerLimits;
  logger: WarnLogger;
  /** What these listeners are, in log lines ("terminal broker", "bridge broker"). */
  name: string;
}

/** What a WebSocket message may carry beyond one packet (its fixed header). */
const WS_HEADROOM = 1024;

/**
 * The sockets an embedded MQTT broker listens on: TCP, a WebSocket port of its own, and WebSocket
 * upgrades on another HTTP server (a page server, so pages reach the broker on their own origin).
 * Every connection is held to the limits before the broker sees a byte of it: connections in all,
 * per address and not yet authenticated, and the size of each packet (a larger one closes the
 * connection). Nothing else here knows MQTT: `handle` gets each connection as a stream, and the
 * broker tells `authenticated(stream)` when its CONNECT was accepted.
 */
export class BrokerListeners {
  private tcp: Server | undefined;
  private wsHttp: HttpServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly detachers = new Set<() => void>();
  private readonly wss: WebSocketServer;
  private readonly connections: ConnectionLimits;
  private readonly admissions = new WeakMap<object, Admission>();
  private readonly refusals: RefusalCounter;

  constructor(private readonly options: BrokerListenersOptions) {
    const { limits } = options;
    this.connections = new ConnectionLimits(limits);
    this.refusals = new RefusalCounter(options.logger, options.name);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxPacketBytes + WS_HEADROOM,
    });
  }

  get tcpPort(): number | undefined {
    return (this.tcp?.address() as AddressInfo | null | undefined)?.port;
  }

  get wsPort(): number | undefined {
    return (this.wsHttp?.address() as AddressInfo | null | undefined)?.port;
  }

  /** Connections open now, on every listener. */
  get open(): number {
    return this.connections.open;
  }

  /** Connections refused so far: `limits` (a cap was reached), `oversized` (a packet over its limit). */
  get refused(): { limits: number; oversized: number } {
    const { counts } = this.refusals;
    return { limits: counts.limits ?? 0, oversized: counts.oversized ?? 0 };
  }

  /** The broker accepted this connection's CONNECT: it no longer counts as pending. */
  authenticated(stream: unknown): void {
    if (typeof stream === 'object' && stream !== null) this.admissions.get(stream)?.authenticated();
  }

  async listenTcp(host: string, port: number): Promise<void> {
    const tcp = createServer((socket) => {
      const admission = this.connections.admit(socket.remoteAddress);
      if (typeof admission === 'string') {
        socket.destroy();
        this.refusals.count('limits', socket.remoteAddress, admission);
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.accept(socket, admission, socket.remoteAddress);
    });
    await listen(tcp, host, port);
    this.tcp = tcp;
  }

  /**
   * A WebSocket listener of its own: any path is taken, plain HTTP is answered 426. The upgrade must
   * arrive within the connect timeout, and each connection counts against the limits from the start.
   */
  async listenWebSocket(host: string, port: number): Promise<void> {
    const { connectTimeoutMs } = this.options.limits;
    const server = timedHttpServer(
      (_request, response) => {
        response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
      },
      { headersTimeoutMs: connectTimeoutMs, requestTimeoutMs: connectTimeoutMs },
    );
    const bySocket = new WeakMap<Socket, Admission>();
    limitConnections(
      server,
      this.connections,
      (refusal, address) => this.refusals.count('limits', address, refusal),
      (socket, admission) => bySocket.set(socket, admission),
    );
    this.upgrades(server, undefined, (request) => bySocket.get(request.socket as Socket));
    await listen(server, host, port);
    this.wsHttp = server;
  }

  /**
   * Takes WebSocket upgrades for `path` (any path when absent) on a server someone else runs. Upgrades
   * for other paths are left to that server's other listeners (answered 404 when there are none).
   * Returns a function that detaches again; `close()` detaches too.
   */
  attachWebSocket(server: HttpServer, path?: string): () => void {
    return this.upgrades(server, path, (request, socket) => {
      const admission = this.connections.admit(request.socket.remoteAddress);
      if (typeof admission !== 'string') {
        socket.once('close', admission.release);
        return admission;
      }
      this.refusals.count('limits', request.socket.remoteAddress, admission);
      return undefined;
    });
  }

  /** Stops listening and cuts every connection still open (the broker closes its clients first). */
  async close(): Promise<void> {
    for (const detach of [...this.detachers]) detach();
    for (const ws of this.wss.clients) ws.terminate();
    const closing: Promise<void>[] = [];
    if (this.wsHttp) {
      const server = this.wsHttp;
      closing.push(new Promise((resolve) => server.close(() => resolve())));
      server.closeAllConnections();
    }
    if (this.tcp) {
      const server = this.tcp;
      closing.push(new Promise((resolve) => server.close(() => resolve())));
      for (const socket of this.sockets) socket.destroy();
    }
    await Promise.all(closing);
    this.wsHttp = undefined;
    this.tcp = undefined;
  }

  /** Upgrades on `server` for `path`, each admitted by `admit` (or closed when it gives none). */
  private upgrades(
    server: HttpServer,
    path: string | undefined,
    admit: (request: IncomingMessage, socket: Duplex) => Admission | undefined,
  ): () => void {
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (path !== undefined && new URL(request.url ?? '/', 'http://host').pathname !== path) {
        if (server.listenerCount('upgrade') === 1) socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      const admission = admit(request, socket);
      if (!admission) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        // A frame over maxPayload is a protocol error: cut the socket now rather than wait out ws's
        // closing handshake with a peer that will never answer it.
        ws.on('error', () => ws.terminate());
        this.accept(createWebSocketStream(ws), admission, request.socket.remoteAddress, request);
      });
    };
    server.on('upgrade', onUpgrade);
    const detach = () => {
      server.off('upgrade', onUpgrade);
      this.detachers.delete(detach);
    };
    this.detachers.add(detach);
    return detach;
  }

  private accept(
    inner: Duplex,
    admission: Admission,
    address: string | undefined,
    request?: IncomingMessage,
  ) {
    const stream = new LimitedMqttStream(
      inner,
      this.options.limits,
      (reason) => this.refusals.count('oversized', address, reason),
      address,
    );
    this.admissions.set(stream, admission);
    stream.once('close', admission.release);
    this.options.handle(stream, request);
  }
}
