import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBridgeConfig } from '../config/index.js';
import { Bridge } from './index.js';

let dir: string;
let held: Server | undefined;
let bridge: Bridge | undefined;

/** A port taken by another process, as a bridge finds it when something else listens there. */
async function takenPort(): Promise<number> {
  held = createServer();
  await new Promise<void>((resolve) => held?.listen(0, '127.0.0.1', resolve));
  return (held.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-start-'));
});
afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await new Promise((resolve) => (held ? held.close(resolve) : resolve(undefined)));
  held = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('a bridge start that fails', () => {
  it('stops the broker, the MQTT client and the store it had started, so the next start takes the same ports', async () => {
    const mqttPort = await freePort();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const config = (httpPort: number) =>
      parseBridgeConfig({
        dataDir: dir,
        adminToken: 'a'.repeat(32),
        mqtt: { port: mqttPort },
        http: { port: httpPort },
      });
    await expect(Bridge.start(config(await takenPort()), logger)).rejects.toThrow(/EADDRINUSE/);
    expect(lines.some((line) => line.includes('bridge start failed'))).toBe(true);

    bridge = await Bridge.start(config(0), logger);
    expect(bridge.mqttUrl).toBe(`mqtt://127.0.0.1:${mqttPort}`);
  });
});
