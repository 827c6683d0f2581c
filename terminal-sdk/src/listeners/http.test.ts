import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LINGER_MS, timedHttpServer } from './http.js';

const limits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

/**
 * A server that refuses every body unread, as a body limit does: 413, `Connection: close`. The
 * client announces `bytes`, writes them as fast as the socket takes them, and reads nothing for
 * `deafMs` (a client busy writing, or on a loaded machine); then it reads what came back. A client
 * `halfOpen` does not close its side when the server closes its own.
 */
async function refusedUpload(bytes: number, deafMs: number, halfOpen = false): Promise<string> {
  const server = timedHttpServer((_request, response) => {
    response.writeHead(413, { connection: 'close', 'content-type': 'text/plain' });
    response.end('too large');
  }, limits);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const socket = connect({
      port: (server.address() as AddressInfo).port,
      host: '127.0.0.1',
      allowHalfOpen: halfOpen,
    });
    socket.pause();
    // A client still writing when the server closes sees EPIPE or a reset: what it read is the point.
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await once(socket, 'connect');
    socket.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${bytes}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < bytes && socket.writable) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
    };
    pump();
    await new Promise((resolve) => setTimeout(resolve, deafMs));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      answer += data;
    });
    socket.resume();
    await closed;
    return answer;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('an HTTP server closing a connection after its answer', () => {
  it('reads and drops the body still arriving, so a client that reads late gets the answer, not a reset', async () => {
    const answer = await refusedUpload(16 * 1024 * 1024, 300);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('too large');
  });

  it('closes after LINGER_MS a connection whose client neither stops sending nor closes', async () => {
    const started = performance.now();
    const answer = await refusedUpload(1024 ** 4, 100, true);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(performance.now() - started).toBeGreaterThanOrEqual(LINGER_MS - 100);
    expect(performance.now() - started).toBeLessThan(LINGER_MS + 3000);
  });
});
