import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminalCredential } from '@educard/gateway';
import { localTopics } from '@educard/terminal-sdk';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closedWithin,
  mqttHeader,
  open,
  openMany,
  openWebSocket,
  stream,
  wsFrame,
  wsFrameHeader,
} from '../support/attacks.js';
import {
  type GatewayTarget,
  MB,
  peakRssDuring,
  RSS_BAR_MB,
  startGatewayProcess,
} from '../support/targets.js';

/**
 * A library gateway's listeners on the school LAN attacked by a stranger (issue 14, defects 1 and 8):
 * the terminal broker over TCP and over the page server's WebSocket, the page server, and the local
 * control socket. A Raspberry Pi has little memory to give: the bar is 50 MB over idle.
 */
const TERMINAL_LIMITS = { maxPerAddress: 4, maxPending: 10, connectTimeoutMs: 1500 };
const PAGE_LIMITS = { maxPerAddress: 8, headersTimeoutMs: 1500 };
const desk = terminalCredential('desk-1', ['library-1']);

let dir: string;
let gateway: GatewayTarget;
let idleMb: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attack-gateway-'));
  gateway = await startGatewayProcess(dir, {
    terminals: { terminals: [desk.entry], limits: TERMINAL_LIMITS },
    pages: { limits: PAGE_LIMITS },
  });
  await fetch(`${gateway.pages}/desk.html`);
  idleMb = await gateway.idleRssMb();
}, 120_000);
afterAll(async () => {
  await gateway?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("the gateway's terminal broker, before authentication", () => {
  it("closes connections announcing 200 MB over TCP and over the pages' WebSocket, under 50 MB", async () => {
    const pagesPort = Number(new URL(gateway.pages).port);
    const { peakMb, result } = await peakRssDuring(gateway.pid, async () => {
      const overTcp = [1, 3].map(async (type, i) => {
        const connection = await open(gateway.terminalPort, { localAddress: `127.0.0.${2 + i}` });
        connection.socket.write(mqttHeader(type, 200 * MB));
        await stream(connection.socket, 100 * MB);
        return closedWithin(connection, 3000);
      });
      const overWebSocket = (async () => {
        const connection = await openWebSocket(pagesPort, '/mqtt', { localAddress: '127.0.0.4' });
        connection.socket.write(wsFrame(mqttHeader(1, 200 * MB)));
        await stream(connection.socket, 100 * MB, wsFrame(Buffer.alloc(64 * 1024)));
        return closedWithin(connection, 3000);
      })();
      const bigFrame = (async () => {
        const connection = await openWebSocket(pagesPort, '/mqtt', { localAddress: '127.0.0.5' });
        connection.socket.write(wsFrameHeader(90 * MB));
        await stream(connection.socket, 20 * MB);
        return closedWithin(connection, 3000);
      })();
      return Promise.all([...overTcp, overWebSocket, bigFrame]);
    });
    expect(peakMb - idleMb, `idle ${idleMb} MB, peak ${peakMb} MB`).toBeLessThan(RSS_BAR_MB);
    expect(result).not.toContain(-1);
  });

  it('takes at most maxPerAddress connections from one address, maxPending in all, and cuts slow ones', async () => {
    const one = await openMany(TERMINAL_LIMITS.maxPerAddress + 3, gateway.terminalPort, {
      localAddress: '127.0.0.6',
    });
    const many = [];
    for (let i = 0; i < TERMINAL_LIMITS.maxPending + 3; i++)
      many.push(await open(gateway.terminalPort, { localAddress: `127.0.3.${1 + i}` }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(one.filter((c) => !c.isClosed()).length).toBeLessThanOrEqual(TERMINAL_LIMITS.maxPerAddress);
    expect([...one, ...many].filter((c) => !c.isClosed()).length).toBeLessThanOrEqual(
      TERMINAL_LIMITS.maxPending,
    );
    // None of them says CONNECT: all are cut at the connect timeout, and the desk gets in again.
    const closedAfter = await Promise.all([...one, ...many].map((c) => closedWithin(c, 5000)));
    expect(closedAfter).not.toContain(-1);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.terminalPort}`, {
      clientId: 'desk-1',
      username: 'desk-1',
      password: desk.password,
      reconnectPeriod: 0,
    });
    await client.endAsync();
  });

  it('answers a request over 64 KiB that carries an id with `malformed`', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.terminalPort}`, {
      clientId: 'desk-1',
      username: 'desk-1',
      password: desk.password,
      reconnectPeriod: 0,
    });
    try {
      await client.subscribeAsync(localTopics.replies('library-1', 'desk-1'), { qos: 1 });
      const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
        client.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString())));
        setTimeout(() => reject(new Error('no reply within 5 s')), 5000);
      });
      const request = {
        v: 1,
        id: 'big-1',
        terminal: 'desk-1',
        name: 'library.patron',
        args: { personId: 'p1', padding: 'x'.repeat(70 * 1024) },
      };
      client.publish(localTopics.requests('library-1'), JSON.stringify(request), { qos: 1 });
      expect(await reply).toMatchObject({ id: 'big-1', status: 'error', reason: 'malformed' });
    } finally {
      await client.endAsync();
    }
  });
});

describe("the gateway's page server and control socket", () => {
  it('closes page connections past the per-address cap, and cuts a request whose headers never end', async () => {
    const port = Number(new URL(gateway.pages).port);
    const flood = await openMany(PAGE_LIMITS.maxPerAddress + 4, port, { localAddress: '127.0.0.7' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(flood.filter((c) => !c.isClosed()).length).toBe(PAGE_LIMITS.maxPerAddress);
    for (const c of flood) c.socket.destroy();
    const slow = await open(port, { localAddress: '127.0.0.8' });
    slow.socket.write('GET /desk.html HTTP/1.1\r\nHost: x\r\n');
    const closedAfter = await closedWithin(slow, PAGE_LIMITS.headersTimeoutMs + 3000);
    slow.socket.destroy();
    expect(closedAfter).toBeGreaterThan(0);
    expect((await fetch(`${gateway.pages}/desk.html`)).status).toBe(200);
  });

  it('closes a control connection whose line never ends, under 50 MB', async () => {
    const { peakMb, result } = await peakRssDuring(gateway.pid, async () => {
      const connection = await open(gateway.controlSocket);
      await stream(connection.socket, 100 * MB);
      return closedWithin(connection, 3000);
    });
    expect(peakMb - idleMb, `idle ${idleMb} MB, peak ${peakMb} MB`).toBeLessThan(RSS_BAR_MB);
    expect(result).toBeGreaterThanOrEqual(0);
  });
});
