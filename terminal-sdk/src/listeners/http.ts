import { createServer, type RequestListener, type Server } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { type Admission, ConnectionLimits, type Refusal } from './connections.js';
import type { HttpListenerLimits } from './limits.js';
import type { RefusalCounter } from './refusals.js';

/** How often Node looks for requests past their header or request timeout (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1000;

/** How long a connection answered and closing still reads (and drops) what its client sends. */
export const LINGER_MS = 5000;

/**
 * Node closes a `Connection: close` answer's socket as soon as the answer is written, with the
 * client's body still arriving (a body over the limit answered 413 unread): closing a socket with
 * unread data makes the kernel reset the connection, and a client still sending then often loses
 * the answer and sees only the reset. Instead, as nginx's lingering close: the answer's side is
 * closed, what the client still sends is read and dropped (the parser discards a dumped body), and
 * the socket closes when the client closes its side, or after LINGER_MS at most.
 */
function lingerOnClose(socket: Socket): void {
  socket.destroySoon = () => {
    if (socket.writable) socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
  };
}

/**
 * An HTTP server whose requests must arrive in time: headers within `headersTimeoutMs`, the whole
 * request within `requestTimeoutMs`, checked every second; a slow client is answered 408 and cut.
 * A connection it closes after an answer lingers (lingerOnClose), so the answer reaches the client.
 */
export function timedHttpServer(
  handler: RequestListener | undefined,
  limits: Pick<HttpListenerLimits, 'headersTimeoutMs' | 'requestTimeoutMs'>,
): Server {
  const server = createServer(
    {
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    handler,
  );
  server.on('connection', lingerOnClose);
  return server;
}

/**
 * Holds a server to `limits` as connections arrive, before a byte is read: one over a cap is closed
 * at once and `onRefused` hears why. Returns each admitted socket's admission through `admitted`.
 */
export function limitConnections(
  server: NetServer,
  limits: ConnectionLimits,
  onRefused: (refusal: Refusal, address: string | undefined) => void,
  admitted?: (socket: Socket, admission: Admission) => void,
): void {
  server.on('connection', (socket) => {
    const admission = limits.admit(socket.remoteAddress);
    if (typeof admission === 'string') {
      socket.destroy();
      onRefused(admission, socket.remoteAddress);
      return;
    }
    socket.once('close', admission.release);
    admitted?.(socket, admission);
  });
}

/**
 * `timedHttpServer` with `limitConnections`: a public HTTP listener, bounded before authentication;
 * each refusal is counted (and logged, a few lines at most) by `refusals`.
 */
export function boundedHttpServer(
  handler: RequestListener | undefined,
  limits: HttpListenerLimits,
  options: { refusals: RefusalCounter; exempt?: (address: string | undefined) => boolean },
): Server {
  const server = timedHttpServer(handler, limits);
  const caps = {
    maxConnections: limits.maxConnections,
    maxPerAddress: limits.maxPerAddress,
    ...(options.exempt ? { exempt: options.exempt } : {}),
  };
  limitConnections(server, new ConnectionLimits(caps), (refusal, address) =>
    options.refusals.count('limits', address, refusal),
  );
  return server;
}
