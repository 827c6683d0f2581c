import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { ControlReply } from './protocol.js';

/** The gateway is not running, or not on this socket: live state is out of reach. */
export class GatewayUnreachable extends Error {
  constructor(
    readonly socket: string,
    readonly code: string,
  ) {
    super(
      code === 'EACCES'
        ? `no permission to open the control socket ${socket}`
        : `the gateway is not running (nothing answers on ${socket})`,
    );
    this.name = 'GatewayUnreachable';
  }
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      reject(new GatewayUnreachable(path, error.code ?? 'ECONNREFUSED')),
    );
  });
}

/** Calls one method of the running gateway and returns its result. */
export async function callGateway<T = unknown>(
  path: string,
  method: string,
  params: Record<string, unknown> = {},
  timeoutMs = 5000,
): Promise<T> {
  const socket = await connect(path);
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the gateway did not answer ${method} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      createInterface({ input: socket }).on('line', (line) => {
        const reply = JSON.parse(line) as ControlReply;
        clearTimeout(timer);
        if ('error' in reply) reject(new Error(reply.error.message));
        else if ('result' in reply) resolve(reply.result as T);
      });
      socket.once('close', () => reject(new Error('the gateway closed the control socket')));
      socket.write(`${JSON.stringify({ id: 1, method, params })}\n`);
    });
  } finally {
    socket.destroy();
  }
}

/** Follows a stream of the running gateway until `signal` aborts or the gateway goes away. */
export async function watchGateway(
  path: string,
  method: string,
  onEvent: (event: unknown) => void,
  signal?: AbortSignal,
): Promise<void> {
  const socket = await connect(path);
  await new Promise<void>((resolve, reject) => {
    const end = () => {
      socket.destroy();
      resolve();
    };
    signal?.addEventListener('abort', end, { once: true });
    createInterface({ input: socket }).on('line', (line) => {
      const reply = JSON.parse(line) as ControlReply;
      if ('event' in reply) onEvent(reply.event);
      else if ('error' in reply) reject(new Error(reply.error.message));
    });
    socket.once('close', end);
    socket.write(`${JSON.stringify({ id: 1, method })}\n`);
  });
}
