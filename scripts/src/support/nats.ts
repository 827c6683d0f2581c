import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exited, freePort } from './mosquitto.js';
import { until } from './until.js';

export const NATS_SERVER = '/usr/sbin/nats-server';
export const NATS_APT_COMMAND = 'apt-get install -y nats-server';

export interface NatsNode {
  name: string;
  /** The node's MQTT listener. */
  mqttUrl: string;
  /** Its monitoring endpoint (`/varz`, `/healthz`, `/connz`). */
  monitorUrl: string;
  pidFile: string;
  readonly pid: number | undefined;
  running(): boolean;
  /** What the node has logged so far. */
  log(): string;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a host failure. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data, and waits for it to be healthy. */
  start(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** The file every node includes for its users; the bridge's NATS device accounts rewrite it. */
  authFile: string;
  stop(): Promise<void>;
}

/**
 * A NATS cluster from Debian's `nats-server` (2.9) on this machine: JetStream and the MQTT listener
 * on every node, each a child process with its own data directory under `dir` and free ports, stopped
 * by pid. Sessions and retained messages are replicated over three nodes; MQTT consumers keep one
 * replica in memory (docs/scale-out.md says why). Until a bridge writes the auth file, only the
 * bridge's user is in it.
 */
export async function startNatsCluster(
  dir: string,
  options: { nodes?: number; bridgeUser: { username: string; password: string } },
): Promise<NatsCluster> {
  if (!existsSync(NATS_SERVER)) throw new Error(`nats-server is not installed: run ${NATS_APT_COMMAND}`);
  const count = options.nodes ?? 3;
  await mkdir(dir, { recursive: true });
  const authFile = join(dir, 'auth.conf');
  const { username, password } = options.bridgeUser;
  await writeFile(
    authFile,
    `authorization {\n  users = [\n    { user: ${JSON.stringify(username)}, password: ${JSON.stringify(password)}, permissions: { publish: ">", subscribe: ">" } }\n  ]\n}\n`,
    { mode: 0o640 },
  );
  // A free port may be taken by another process before nats-server binds it: then start again on others.
  for (let attempt = 1; ; attempt++) {
    const nodes = await configureNodes(dir, count);
    const started = await Promise.allSettled(nodes.map((node) => node.start()));
    const failed = started.find((result) => result.status === 'rejected');
    if (!failed) return { nodes, authFile, stop: () => stopAll(nodes) };
    await stopAll(nodes);
    const reason = (failed as PromiseRejectedResult).reason as Error;
    if (attempt === 3 || !/address already in use/.test(reason.message)) throw reason;
    await Promise.all(nodes.map((node) => rm(join(dir, node.name), { recursive: true, force: true })));
  }
}

async function stopAll(nodes: NatsNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop()));
}

/** Every node's configuration on fresh ports; every node lists every route. */
async function configureNodes(dir: string, count: number): Promise<NatsNode[]> {
  const ports = await Promise.all(
    Array.from({ length: count }, async () => ({
      client: await freePort(),
      route: await freePort(),
      monitor: await freePort(),
      mqtt: await freePort(),
    })),
  );
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`);
  return Promise.all(
    ports.map(async (port, index) => {
      const name = `n${index + 1}`;
      const conf = join(dir, `${name}.conf`);
      const pidFile = join(dir, `${name}.pid`);
      await writeFile(
        conf,
        [
          `server_name: ${name}`,
          `listen: 127.0.0.1:${port.client}`,
          `http: 127.0.0.1:${port.monitor}`,
          `pid_file: ${JSON.stringify(pidFile)}`,
          `jetstream { store_dir: ${JSON.stringify(join(dir, name))}, max_memory_store: 512MB, max_file_store: 4GB }`,
          // One node alone runs JetStream standalone: with a cluster block naming only itself it did not
          // become healthy within 60 s here.
          ...(count > 1
            ? [`cluster { name: educard, listen: 127.0.0.1:${port.route}, routes: [${routes.join(', ')}] }`]
            : []),
          // Each QoS 1 subscription is a consumer (the bridges'; gateways of the version before had one per
          // topic): one in-memory replica, not three, since the contract resends what a lost node held.
          `mqtt { listen: 127.0.0.1:${port.mqtt}, stream_replicas: ${Math.min(3, count)}, consumer_replicas: 1, consumer_memory_storage: true }`,
          // One device's events are small, but a backlog batch after an outage is up to 1 MiB.
          'max_payload: 2MB',
          'max_connections: 20000',
          // Relative to this file: NATS resolves includes from the including file's directory.
          'include ./auth.conf',
          '',
        ].join('\n'),
      );
      return natsNode(name, conf, pidFile, port);
    }),
  );
}

/** Characters of a node's output kept. */
const OUTPUT_TAIL = 200_000;

function natsNode(
  name: string,
  conf: string,
  pidFile: string,
  port: { mqtt: number; monitor: number },
): NatsNode {
  let child: ChildProcess | undefined;
  // The tail is what explains a failure; a long run must not grow this without bound, and a node
  // logging under load must not cost a copy of the whole tail per chunk.
  let chunks: string[] = [];
  let kept = 0;
  const output = () => chunks.join('').slice(-OUTPUT_TAIL);
  const monitorUrl = `http://127.0.0.1:${port.monitor}`;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const healthy = async () => {
    const answer = await fetch(`${monitorUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(
      () => undefined,
    );
    return answer?.ok === true;
  };
  const node: NatsNode = {
    name,
    mqttUrl: `mqtt://127.0.0.1:${port.mqtt}`,
    monitorUrl,
    pidFile,
    get pid() {
      return child?.pid;
    },
    running,
    log: output,
    async start() {
      if (running()) return;
      chunks = [];
      kept = 0;
      // The nodes share this machine's cores. Each Go runtime sized to all of them keeps threads
      // spinning for work against the other nodes: one each took a quarter less CPU a message, and
      // halved the p99 of 3,000 simulated gateways (docs/scale-out.md). The caller's setting wins.
      child = spawn(NATS_SERVER, ['-c', conf], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { GOMAXPROCS: '1', ...process.env },
      });
      const keep = (chunk: Buffer) => {
        const text = String(chunk);
        chunks.push(text);
        kept += text.length;
        while (kept - (chunks[0]?.length ?? 0) >= OUTPUT_TAIL) kept -= (chunks.shift() as string).length;
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const started = child;
      await until(
        async () => {
          if (started.exitCode !== null)
            throw new Error(`nats-server ${name} exited: ${output().slice(-2000)}`);
          return healthy();
        },
        { what: `nats-server ${name} healthy`, timeoutMs: 60_000, everyMs: 100 },
      );
    },
    async stop() {
      if (!running()) return;
      child?.kill('SIGTERM');
      await exited(child as ChildProcess, 30_000);
    },
    async kill() {
      if (!running()) return;
      child?.kill('SIGKILL');
      await exited(child as ChildProcess);
    },
  };
  return node;
}
