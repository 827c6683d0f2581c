import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testStoreConfig } from '@educard/cloud-bridge/test-store';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
import { freePort } from '@educard/scripts/support';
import { ADMIN_TOKEN } from './bridge.js';
import { type Child, exited, startNode } from './processes.js';

/**
 * Bridges and gateways as separate processes, started the way docs/bridge-cli.md and docs/gateway.md
 * say, for tests that attack them from outside and measure what it costs them (the security suite).
 */
/** Issue 14's bar: a process's resident memory stays within this of idle under a stranger's flood. */
export const RSS_BAR_MB = 50;
export const MB = 1024 * 1024;

export interface Target {
  child: Child;
  pid: number;
  /** Resident memory now, from /proc/PID/status. */
  rssMb(): Promise<number>;
  /** Resident memory at rest: the highest of five readings over half a second. */
  idleRssMb(): Promise<number>;
  stop(): Promise<void>;
}

export interface BridgeTarget extends Target {
  http: string;
  mqtt: { host: string; port: number };
  /** The embedded broker's WebSocket listener. */
  wsPort: number;
  dataDir: string;
}

export interface GatewayTarget extends Target {
  /** The terminal broker's TCP port. */
  terminalPort: number;
  /** The page server (which carries the terminal broker's WebSocket at /mqtt). */
  pages: string;
  /** The local control socket. */
  controlSocket: string;
  dataDir: string;
}

/** Resident set size of a process in MB (VmRSS of /proc/PID/status). */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

/**
 * The highest RSS seen while `attack` runs and for `settleMs` after it (sampled every 20 ms), and what
 * the attack returned: memory taken by an attack shows at its peak, not after a GC gave it back.
 */
export async function peakRssDuring<T>(
  pid: number,
  attack: () => Promise<T>,
  settleMs = 500,
): Promise<{ peakMb: number; result: T }> {
  let peakMb = await rssMb(pid);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakMb = Math.max(peakMb, await rssMb(pid).catch(() => 0));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    const result = await attack();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return { peakMb, result };
  } finally {
    sampling = false;
    await sampler;
  }
}

function target(child: Child): Target {
  const pid = child.process.pid as number;
  return {
    child,
    pid,
    rssMb: () => rssMb(pid),
    async idleRssMb() {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        samples.push(await rssMb(pid));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return Math.max(...samples);
    },
    async stop() {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGTERM');
      await exited(child.process);
    },
  };
}

/**
 * `educard-bridge serve` with the embedded broker on TCP and WebSocket, on free loopback ports;
 * `config` is merged over that (section by section), as an operator's bridge.json would be.
 */
export async function startBridgeProcess(
  dir: string,
  config: Record<string, Record<string, unknown> | string> = {},
): Promise<BridgeTarget> {
  const dataDir = join(dir, 'bridge-data');
  await mkdir(dataDir, { recursive: true });
  const [port, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const { mqtt, http, ...rest } = config as Record<string, Record<string, unknown>>;
  const path = join(dir, 'bridge.json');
  await writeFile(
    path,
    JSON.stringify({
      dataDir,
      adminToken: ADMIN_TOKEN,
      log: { level: 'info' },
      ...testStoreConfig(dataDir),
      ...rest,
      mqtt: { host: '127.0.0.1', port, wsPort, ...mqtt },
      http: { host: '127.0.0.1', port: httpPort, pages: false, ...http },
    }),
  );
  const child = startNode('cloud-bridge/dist/cli/main.js', ['serve', '--config', path]);
  // Generous: with other suites running beside this one, a start was seen to take over 30 s.
  const started = await child.waitFor((line) => line.msg === 'bridge started', 90_000);
  return {
    ...target(child),
    http: String(started.http),
    mqtt: { host: '127.0.0.1', port },
    wsPort,
    dataDir,
  };
}

/**
 * `educard-gateway` as a library desk with simulated readers, its terminal broker (TCP, and WebSocket
 * at the page server's /mqtt) and page server on free loopback ports, and its control socket;
 * `config` is merged over that, section by section.
 */
export async function startGatewayProcess(
  dir: string,
  config: Record<string, Record<string, unknown>> = {},
): Promise<GatewayTarget> {
  const dataDir = join(dir, 'gateway-data');
  await mkdir(dataDir, { recursive: true });
  const { terminals, pages, ...rest } = config;
  const path = join(dir, 'gateway.json');
  await writeFile(
    path,
    JSON.stringify({
      device: { id: 'gw-target', school: 'school-1' },
      dataDir,
      station: { type: 'library', id: 'library-1', zone: 'library', debounceMs: 0 },
      readers: { simulated: ['desk-reader'] },
      io: { plugin: 'recording' },
      log: { level: 'info' },
      ...rest,
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, ...terminals },
      pages: { host: '127.0.0.1', port: 0, ...pages },
    }),
  );
  const child = startNode('gateway/dist/main.js', ['--config', path], { nodeFlags: GATEWAY_NODE_FLAGS });
  const broker = await child.waitFor((line) => line.msg === 'terminal broker listening', 90_000);
  const served = await child.waitFor((line) => line.msg === 'terminal pages served');
  const control = await child.waitFor((line) => line.msg === 'control socket listening');
  await child.waitFor((line) => line.msg === 'gateway started');
  return {
    ...target(child),
    terminalPort: Number(broker.port),
    pages: String(served.url),
    controlSocket: String(control.socket),
    dataDir,
  };
}
