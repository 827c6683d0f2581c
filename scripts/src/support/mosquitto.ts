import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

export interface Mosquitto {
  port: number;
  url: string;
  /** The TLS listener, when asked for. */
  tlsUrl?: string;
  /** What Mosquitto has logged so far. */
  log(): string;
  stop(): Promise<void>;
  /** Starts it again on the same port, as after an outage. */
  restart(): Promise<void>;
}

/** Resolves with the exit code once the child has exited; at once if it already has. */
export async function exited(child: ChildProcess, timeoutMs = 20_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) })) as [number | null];
  return code;
}

/**
 * A port free now, for a process started later that must be told its port. Taken below the kernel's
 * ephemeral range: a port the kernel hands out for `listen(0)` or an outgoing connection could be
 * handed out again, to another test's broker or client, before our process binds it.
 */
export async function freePort(): Promise<number> {
  const [low, high] = belowEphemeral();
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!FETCH_BLOCKED.has(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port found between ${low} and ${high}`);
}

/**
 * Ports fetch() refuses to reach ("bad port": the Fetch standard's blocked ports); of them only 10080
 * lies in the range freePort takes from. A bridge given it answered no test that fetched from it.
 */
const FETCH_BLOCKED = new Set([10080]);

function belowEphemeral(): [number, number] {
  try {
    const [first] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const ephemeralLow = Number(first);
    if (ephemeralLow > 12_000) return [10_000, ephemeralLow];
  } catch {
    // Not Linux: the usual range below IANA's dynamic ports.
  }
  return [10_000, 32_768];
}

function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Mosquitto from Debian's package as a separate process, stopped by its pid. `maxQueued` undefined
 * keeps Mosquitto's default (1000 queued messages per client, past which it drops); `maxInflight`
 * (default 20) is how many QoS 1 messages it sends a client before waiting for its acknowledgements.
 */
export interface MosquittoTls {
  ca: string;
  cert: string;
  key: string;
  /** Refuse clients without a certificate the CA signed. */
  requireCertificate: boolean;
}

export async function startMosquitto(
  dir: string,
  options: { maxQueued?: number; maxInflight?: number; tls?: MosquittoTls } = {},
): Promise<Mosquitto> {
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const conf = join(dir, `mosquitto-${port}.conf`);
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'log_type notice',
    ...(options.maxQueued !== undefined ? [`max_queued_messages ${options.maxQueued}`] : []),
    ...(options.maxInflight !== undefined ? [`max_inflight_messages ${options.maxInflight}`] : []),
    ...(options.tls
      ? [
          `listener ${tlsPort} 127.0.0.1`,
          `cafile ${options.tls.ca}`,
          `certfile ${options.tls.cert}`,
          `keyfile ${options.tls.key}`,
          `require_certificate ${options.tls.requireCertificate}`,
        ]
      : []),
  ];
  await writeFile(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk) => {
      output += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      output += String(chunk);
    });
    await listening(port);
    if (tlsPort) await listening(tlsPort);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    await exited(child);
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort ? { tlsUrl: `mqtts://127.0.0.1:${tlsPort}` } : {}),
    log: () => output,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
