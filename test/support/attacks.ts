import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * What an outsider sends: raw sockets, hand-made MQTT and WebSocket headers, HTTP from a chosen
 * source address (every 127.x.y.z is this machine, so one host can play many strangers).
 */

/** An open TCP connection that tells when the other side closed it. */
export interface Opened {
  socket: Socket;
  /** Resolves when the connection is closed, with the time since it opened (ms). */
  closed: Promise<number>;
  isClosed(): boolean;
}

/** A connection to a TCP port on loopback (from `localAddress`), or to a unix socket's path. */
export function open(to: number | string, options: { localAddress?: string } = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket =
      typeof to === 'string'
        ? connect({ path: to })
        : connect({ port: to, host: '127.0.0.1', localAddress: options.localAddress });
    let done = false;
    const closed = new Promise<number>((closedResolve) =>
      socket.once('close', () => {
        done = true;
        closedResolve(Date.now() - started);
      }),
    );
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      // What the server answers is read and dropped, so that its closing is seen.
      socket.resume();
      resolve({ socket, closed, isClosed: () => done });
    });
    socket.once('error', (error) => {
      if (!socket.connecting) return;
      reject(error);
    });
  });
}

/** How long after opening the other side closed the connection, or -1 when it is open `ms` from now. */
export function closedWithin(opened: Opened, ms: number): Promise<number> {
  return Promise.race([opened.closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), ms))]);
}

/** Opens `count` connections one after another (some may be closed by the server at once). */
export async function openMany(
  count: number,
  port: number,
  options: { localAddress?: string } = {},
): Promise<Opened[]> {
  const all: Opened[] = [];
  for (let i = 0; i < count; i++) all.push(await open(port, options));
  return all;
}

/** An MQTT fixed header: the packet type (1 CONNECT, 3 PUBLISH, …) and the remaining length it announces. */
export function mqttHeader(type: number, remainingLength: number): Buffer {
  const bytes = [(type << 4) | (type === 8 || type === 6 || type === 10 ? 2 : 0)];
  let rest = remainingLength;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

/**
 * Writes `chunk` (by default 1 MB of zeros) again and again, as fast as the socket takes it, until
 * `total` bytes went or the other side closed; resolves with how many bytes the socket took.
 */
export async function stream(
  socket: Socket,
  total: number,
  chunk = Buffer.alloc(1024 * 1024),
): Promise<number> {
  let written = 0;
  while (written < total && !socket.destroyed && socket.writable) {
    const size = Math.min(chunk.length, total - written);
    const more = socket.write(size === chunk.length ? chunk : chunk.subarray(0, size));
    written += size;
    if (!more)
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
      });
  }
  return written;
}

/** Sends one byte every `everyMs` until the connection closes or `stop` is called: a slow client. */
export function trickle(socket: Socket, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (socket.destroyed) clearInterval(timer);
    else socket.write(Buffer.from([0x30]));
  }, everyMs);
  return () => clearInterval(timer);
}

/**
 * A WebSocket opened by hand (the MQTT subprotocol), so that the frames after it can be anything:
 * resolves with the raw socket once the server answered 101, rejects with its status line otherwise.
 */
export async function openWebSocket(
  port: number,
  path: string,
  options: { localAddress?: string } = {},
): Promise<Opened> {
  const opened = await open(port, options);
  const { socket } = opened;
  socket.write(
    [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: mqtt',
      '',
      '',
    ].join('\r\n'),
  );
  const head = await new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (data: Buffer) => {
      text += data.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed during the handshake: ${text || 'no answer'}`)));
  });
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`no upgrade: ${head.split('\r\n')[0]}`);
  return opened;
}

/** A masked binary WebSocket frame header (client to server) announcing `length` bytes of payload. */
export function wsFrameHeader(length: number): Buffer {
  const mask = Buffer.alloc(4);
  if (length < 126) return Buffer.concat([Buffer.from([0x82, 0x80 | length]), mask]);
  if (length < 65_536) {
    const header = Buffer.from([0x82, 0x80 | 126, 0, 0]);
    header.writeUInt16BE(length, 2);
    return Buffer.concat([header, mask]);
  }
  const header = Buffer.alloc(10);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, mask]);
}

/** `payload` as one masked binary frame (the mask is zeros, so the bytes go as they are). */
export const wsFrame = (payload: Buffer) => Buffer.concat([wsFrameHeader(payload.length), payload]);

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request from a chosen source address. A `body` of a number sends that many bytes, with a
 * Content-Length unless `chunked`; the answer is read whether or not the body was all sent.
 */
export function send(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | number;
    chunked?: boolean;
    localAddress?: string;
  } = {},
): Promise<HttpAnswer> {
  const { method = 'GET', headers = {}, body, chunked = false, localAddress } = options;
  const length = typeof body === 'number' ? body : body === undefined ? 0 : Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method,
      headers: {
        ...headers,
        ...(body !== undefined && !chunked ? { 'content-length': String(length) } : {}),
        ...(chunked ? { 'transfer-encoding': 'chunked' } : {}),
      },
      ...(localAddress ? { localAddress } : {}),
      agent: false,
    });
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (data: string) => {
        text += data;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    if (typeof body === 'string') request.end(body);
    else if (typeof body === 'number') {
      const chunk = Buffer.alloc(Math.min(body, 1024 * 1024), 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < body && !request.destroyed) {
          const size = Math.min(chunk.length, body - sent);
          sent += size;
          if (!request.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
            request.once('drain', pump);
            return;
          }
        }
        request.end();
      };
      pump();
    } else request.end();
  });
}
