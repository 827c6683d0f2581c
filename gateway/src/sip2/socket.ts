import { readFile } from 'node:fs/promises';
import { isIP, connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { Sip2Config } from './config.js';
import { Sip2Error, Sip2Unavailable } from './errors.js';

/**
 * Opens the byte stream to the library system: resolves once it is connected (and, over TLS, once the
 * handshake is done). A test or another transport passes its own to the client; a failure should be a
 * {@link Sip2Unavailable} with reason `connect`.
 */
export type Sip2Connect = (config: Sip2Config) => Promise<Duplex>;

async function tlsOptions(config: Sip2Config): Promise<ConnectionOptions | undefined> {
  const { tls, host } = config;
  if (!tls) return undefined;
  const read = (path: string | undefined) => (path ? readFile(path) : Promise.resolve(undefined));
  let files: (Buffer | undefined)[];
  try {
    files = await Promise.all([read(tls.ca), read(tls.cert), read(tls.key)]);
  } catch (error) {
    throw new Sip2Error(`cannot read the SIP2 TLS files: ${(error as Error).message}`, { cause: error });
  }
  const [ca, cert, key] = files;
  const servername = tls.servername ?? (isIP(host) ? undefined : host);
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(servername ? { servername } : {}),
  };
}

/** The library system over TCP, or TLS when `config.tls` says so; gives up after `timeoutMs`. */
export const connectSocket: Sip2Connect = async (config) => {
  const { host, port, timeoutMs } = config;
  const secure = await tlsOptions(config);
  const socket = secure ? tlsConnect({ host, port, ...secure }) : tcpConnect({ host, port });
  socket.setNoDelay(true);
  return new Promise<Duplex>((resolve, reject) => {
    const ready = secure ? 'secureConnect' : 'connect';
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.off(ready, done);
      socket.destroy();
      reject(
        new Sip2Unavailable(
          `cannot reach the library system at ${host}:${port}: ${error.message}`,
          'connect',
          false,
          {
            cause: error,
          },
        ),
      );
    };
    const done = () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    };
    const timer = setTimeout(() => fail(new Error(`no connection in ${timeoutMs} ms`)), timeoutMs);
    socket.once(ready, done);
    socket.once('error', fail);
  });
};
