import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { listen } from '../listen/index.js';

/** Where a broker takes a new connection: aedes's `handle`. */
export type ConnectionHandler = (stream: Duplex, request?: IncomingMessage) => void;

/** The largest WebSocket message taken from a terminal. */
const MAX_WS_PAYLOAD = 1024 * 1024;

/**
 * The sockets an embedded MQTT broker listens on: TCP, a WebSocket port of its own, and WebSocket
 * upgrades on another HTTP server (a page server, so pages reach the broker on their own origin).
 * Nothing here knows MQTT: `handle` gets each connection as a stream.
 */
export class BrokerListeners {
  private tcp: Server | undefined;
  private wsHttp: HttpServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly detachers = new Set<() => void>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_PAYLOAD });

  constructor(private readonly handle: ConnectionHandler) {}

  get tcpPort(): number | undefined {
    return (this.tcp?.address() as AddressInfo | null | undefined)?.port;
  }

  get wsPort(): number | undefined {
    return (this.wsHttp?.address() as AddressInfo | null | undefined)?.port;
  }

  async listenTcp(host: string, port: number): Promise<void> {
    const tcp = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.handle(socket);
    });
    await listen(tcp, host, port);
    this.tcp = tcp;
  }

  /** A WebSocket listener of its own: any path is taken, plain HTTP is answered 426. */
  async listenWebSocket(host: string, port: number): Promise<void> {
    const server = createHttpServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
    });
    this.attachWebSocket(server);
    await listen(server, host, port);
    this.wsHttp = server;
  }

  /**
   * Takes WebSocket upgrades for `path` (any path when absent) on a server someone else runs. Upgrades
   * for other paths are left to that server's other listeners (answered 404 when there are none).
   * Returns a function that detaches again; `close()` detaches too.
   */
  attachWebSocket(server: HttpServer, path?: string): () => void {
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (path !== undefined && new URL(request.url ?? '/', 'http://host').pathname !== path) {
        if (server.listenerCount('upgrade') === 1) socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        this.handle(stream, request);
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
}
