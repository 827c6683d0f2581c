import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ItemPresented,
  type LocalGatewayState,
  localTopics,
  type StationTap,
  type TerminalReply,
  type TerminalRequest,
} from '@educard/terminal-sdk';
import { BrokerListeners } from '@educard/terminal-sdk/broker-listeners';
import { type ProtocolError, TerminalClient } from '@educard/terminal-sdk/terminal-client';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../log/index.js';
import type { StationReply, TerminalStation } from '../stations/types.js';
import { TERMINAL_BROKER_LIMITS } from './config.js';
import { TerminalHub, TerminalsConfig, terminalCredential } from './index.js';

/** A station as the runtime would hand it over: our own interface, played in memory. */
class FakeStation implements TerminalStation {
  readonly requests: TerminalRequest[] = [];
  private readonly viewListeners: (() => void)[] = [];
  private seats: unknown[] = [];
  /** While set, requests wait for it: a slow ledger, or a reply that never comes. */
  hold: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly kind: 'library' | 'lab',
  ) {}

  tap(): StationTap | undefined {
    return undefined;
  }

  async handle(request: TerminalRequest): Promise<StationReply> {
    this.requests.push(request);
    const personId = (request.args as { personId?: string } | undefined)?.personId;
    if (personId === 'p-throws') throw new Error('ledger on fire');
    if (personId === 'p-bad-reply') return { status: 'ok', message: 'x'.repeat(600) };
    if (this.hold) await this.hold;
    return { status: 'ok', data: { name: request.name, terminal: request.terminal, station: this.id } };
  }

  view(): Record<string, unknown> {
    return { seats: this.seats };
  }

  onViewChange(listener: () => void): void {
    this.viewListeners.push(listener);
  }

  setSeats(seats: unknown[]): void {
    this.seats = seats;
    for (const listener of this.viewListeners) listener();
  }
}

type Line = { level: number; msg: string; [key: string]: unknown };

let lines: Line[];
let raw: string[];
let hub: TerminalHub;
let library: FakeStation;
let lab: FakeStation;
let state: LocalGatewayState;
const closers: (() => Promise<unknown>)[] = [];

const credentials = {
  desk1: terminalCredential('desk-1', ['library-1']),
  desk2: terminalCredential('desk-2', ['library-1']),
  kiosk: terminalCredential('kiosk-1', ['lab-1']),
  ghost: terminalCredential('ghost-1', ['ghost']),
};
const passwords = Object.values(credentials).map((credential) => credential.password);

function logger() {
  return createLogger('terminals-test', {
    level: 'debug',
    destination: {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as Line);
      },
    },
  });
}

function makeHub(port = 0, stateIntervalMs?: number): TerminalHub {
  const config = TerminalsConfig.parse({
    host: '127.0.0.1',
    port,
    wsPort: 0,
    terminals: Object.values(credentials).map((credential) => credential.entry),
  });
  return new TerminalHub({
    config,
    logger: logger(),
    stations: [library, lab],
    state: () => state,
    ...(stateIntervalMs ? { stateIntervalMs } : {}),
  });
}

/** Waits until a condition holds; fails the test with what it waited for when it never does. */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function logged(msg: string, fields: Record<string, unknown> = {}): Line | undefined {
  return lines.find(
    (line) => line.msg === msg && Object.entries(fields).every(([key, value]) => line[key] === value),
  );
}

const tcpUrl = () => `mqtt://127.0.0.1:${hub.ports.tcp}`;
const wsUrl = () => `ws://127.0.0.1:${hub.ports.ws}`;

async function terminal(
  who: keyof typeof credentials,
  station: string,
  url = tcpUrl(),
  extra: { reconnectPeriodMs?: number } = {},
): Promise<TerminalClient> {
  const { entry, password } = credentials[who];
  const client = await TerminalClient.connect({ url, terminal: entry.id, password, station, ...extra });
  closers.push(() => client.close());
  return client;
}

/** A bare MQTT connection with a terminal's credentials, keeping every message it receives. */
async function rawTerminal(
  who: keyof typeof credentials,
  clientId: string = credentials[who].entry.id,
): Promise<{ client: MqttClient; messages: { topic: string; body: Record<string, unknown> }[] }> {
  const { entry, password } = credentials[who];
  const client = await mqtt.connectAsync(tcpUrl(), {
    clientId,
    username: entry.id,
    password,
    reconnectPeriod: 0,
  });
  closers.push(() => client.endAsync(true));
  const messages: { topic: string; body: Record<string, unknown> }[] = [];
  client.on('message', (topic, payload) => messages.push({ topic, body: JSON.parse(payload.toString()) }));
  return { client, messages };
}

async function granted(client: MqttClient, topic: string): Promise<number | undefined> {
  return client.subscribeAsync(topic, { qos: 1 }).then(
    (grants) => grants[0]?.qos,
    (error: { packet?: { granted?: number[] } }) => error.packet?.granted?.[0],
  );
}

function request(id: string, name: string, args: unknown, terminal = 'desk-1'): string {
  return JSON.stringify({ v: 1, id, terminal, name, args });
}

beforeEach(async () => {
  lines = [];
  raw = [];
  library = new FakeStation('library-1', 'library');
  lab = new FakeStation('lab-1', 'lab');
  state = {
    v: 1,
    device: 'gw-01',
    school: 'school-1',
    online: true,
    backlog: 0,
    rosterVersion: 7,
    stations: [
      { id: 'library-1', kind: 'library' },
      { id: 'lab-1', kind: 'lab' },
    ],
    at: new Date().toISOString(),
  };
  hub = makeHub();
  await hub.start();
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await hub.stop();
  // No line of any test may hold a password.
  for (const password of passwords) expect(raw.join('\n')).not.toContain(password);
});

describe('TerminalHub: requests and replies', () => {
  it.each([
    ['TCP', tcpUrl],
    ['WebSocket', wsUrl],
  ])('answers requests by their correlation ids over %s', async (_transport, url) => {
    const client = await terminal('desk1', 'library-1', url());
    const [patron, checkout] = await Promise.all([
      client.request('library.patron', { personId: 'p0000001' }),
      client.request('library.checkout', { personId: 'p0000001', itemId: 'B-0001', txn: 'txn-0001-a' }),
    ]);
    expect(patron).toMatchObject({
      v: 1,
      status: 'ok',
      data: { name: 'library.patron', terminal: 'desk-1' },
    });
    expect(checkout).toMatchObject({ status: 'ok', data: { name: 'library.checkout' } });
    expect(patron.id).not.toBe(checkout.id);
    expect(library.requests.map((r) => [r.name, r.terminal])).toEqual(
      expect.arrayContaining([
        ['library.patron', 'desk-1'],
        ['library.checkout', 'desk-1'],
      ]),
    );
  });

  it("shares the pages' HTTP port: MQTT over WebSocket at /mqtt, other paths left alone", async () => {
    const pages: Server = createServer((_request, response) => response.end('the desk page'));
    hub.attachWebSocket(pages);
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => pages.close(resolve)));
    const port = (pages.address() as AddressInfo).port;

    const client = await terminal('desk1', 'library-1', `ws://127.0.0.1:${port}/mqtt`);
    await expect(client.request('library.patron', { personId: 'p0000001' })).resolves.toMatchObject({
      status: 'ok',
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('the desk page');
    const elsewhere = await new Promise<number | undefined>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/other`, 'mqtt');
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode));
      socket.on('error', () => resolve(undefined));
    });
    expect(elsewhere).toBe(404);
  });

  it('gives each terminal only its own replies', async () => {
    const one = await rawTerminal('desk1');
    const two = await rawTerminal('desk2');
    expect(await granted(one.client, localTopics.replies('library-1', 'desk-1'))).toBe(1);
    expect(await granted(two.client, localTopics.replies('library-1', 'desk-2'))).toBe(1);
    // Listening in on another terminal's replies is refused.
    expect(await granted(two.client, localTopics.replies('library-1', 'desk-1'))).toBe(128);

    one.client.publish(
      localTopics.requests('library-1'),
      request('r-1', 'library.patron', { personId: 'p1' }),
      { qos: 1 },
    );
    await until(() => one.messages.length === 1, 'desk-1 gets its reply');
    two.client.publish(
      localTopics.requests('library-1'),
      request('r-2', 'library.patron', { personId: 'p1' }, 'desk-2'),
      { qos: 1 },
    );
    await until(() => two.messages.length >= 1, 'desk-2 gets its reply');
    // desk-1's reply was published first: had it reached desk-2, it would be there already.
    expect(two.messages.map((m) => m.body.id)).toEqual(['r-2']);
    expect(one.messages.map((m) => m.body.id)).toEqual(['r-1']);
  });

  it('answers a malformed, mis-versioned, misnamed or spoofed request with an error reply', async () => {
    const one = await rawTerminal('desk1');
    const two = await rawTerminal('desk2');
    await one.client.subscribeAsync(localTopics.replies('library-1', 'desk-1'), { qos: 1 });
    await two.client.subscribeAsync(localTopics.replies('library-1', 'desk-2'), { qos: 1 });
    const send = (payload: string) =>
      one.client.publish(localTopics.requests('library-1'), payload, { qos: 1 });

    send('{"v":1,"id":"no-json"');
    send(JSON.stringify({ v: 1, id: 'x'.repeat(70_000) }));
    send('null');
    send(request('m-1', 'library.checkout', { personId: 'p1', itemId: 'B-1' }));
    send(JSON.stringify({ v: 9, id: 'm-2', terminal: 'desk-1', name: 'library.patron', args: {} }));
    send(request('m-3', 'library.fly', { personId: 'p1' }));
    send(request('m-4', 'library.patron', { personId: 'p1' }, 'desk-2'));
    // Over 64 KiB but with an id: answered all the same (issue 14, defect 8).
    send(request('m-5', 'library.patron', { personId: 'p1', padding: 'x'.repeat(70_000) }));
    await until(() => one.messages.length === 5, 'five error replies');

    const replies: Record<string, TerminalReply> = Object.fromEntries(
      one.messages.map((m) => [m.body.id, m.body as TerminalReply]),
    );
    expect(replies['m-1']).toMatchObject({ status: 'error', reason: 'malformed' });
    expect(replies['m-1']?.message).toMatch(/args\.txn/);
    expect(replies['m-2']).toMatchObject({ status: 'error', reason: 'malformed' });
    expect(replies['m-2']?.message).toBe('message is contract version 9, this gateway speaks 1');
    expect(replies['m-3']).toMatchObject({ status: 'error', reason: 'malformed' });
    expect(replies['m-3']?.message).toMatch(/name/);
    expect(replies['m-4']).toMatchObject({ status: 'error', reason: 'terminal-mismatch' });
    expect(replies['m-5']).toMatchObject({ status: 'error', reason: 'malformed' });
    expect(replies['m-5']?.message).toMatch(/^request is \d+ bytes, the limit is 65536$/);
    for (const reply of Object.values(replies)) expect(reply.at).toMatch(/Z$/);

    // Without a usable id there is no one to answer: each is logged with what was wrong.
    await until(
      () => lines.filter((l) => l.msg === 'terminal request refused').length === 8,
      'eight warnings',
    );
    const refusals = lines.filter((l) => l.msg === 'terminal request refused');
    expect(
      refusals.every((l) => l.level === 40 && l.terminal === 'desk-1' && l.station === 'library-1'),
    ).toBe(true);
    expect(refusals.map((l) => l.err)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^not JSON: /),
        expect.stringMatching(/^request is \d+ bytes, the limit is 65536$/),
        expect.stringMatching(/^\(root\): /),
      ]),
    );
    // The spoofed request was answered to the terminal that sent it, never to the one it named.
    two.client.publish(
      localTopics.requests('library-1'),
      request('r-2', 'library.patron', { personId: 'p1' }, 'desk-2'),
      { qos: 1 },
    );
    await until(() => two.messages.length >= 1, 'desk-2 gets its reply');
    expect(two.messages.map((m) => m.body.id)).toEqual(['r-2']);
    expect(library.requests.map((r) => r.id)).toEqual(['r-2']);
  });

  it('answers unknown-station for a station the terminal may use but this gateway lacks', async () => {
    const ghost = await rawTerminal('ghost');
    await ghost.client.subscribeAsync(localTopics.replies('ghost', 'ghost-1'), { qos: 1 });
    ghost.client.publish(localTopics.requests('ghost'), request('g-1', 'lab.seats', {}, 'ghost-1'), {
      qos: 1,
    });
    await until(() => ghost.messages.length === 1, 'the reply');
    expect(ghost.messages[0]?.body).toMatchObject({ id: 'g-1', status: 'error', reason: 'unknown-station' });
    expect(logged('terminal names stations this gateway lacks', { terminal: 'ghost-1' })).toBeDefined();
  });

  it('answers internal when the station throws or answers outside the contract, and goes on', async () => {
    const client = await terminal('desk1', 'library-1');
    await expect(client.request('library.patron', { personId: 'p-throws' })).resolves.toMatchObject({
      status: 'error',
      reason: 'internal',
    });
    const failure = logged('station failed a terminal request', {
      terminal: 'desk-1',
      request: 'library.patron',
    });
    expect(failure?.level).toBe(50);
    expect(failure?.err).toMatch(/ledger on fire/);

    await expect(client.request('library.patron', { personId: 'p-bad-reply' })).resolves.toMatchObject({
      status: 'error',
      reason: 'internal',
    });
    expect(logged('station answered outside the contract')?.err).toMatch(/message/);

    await expect(client.request('library.patron', { personId: 'p0000001' })).resolves.toMatchObject({
      status: 'ok',
    });
  });

  it('lets a page reloaded mid-checkout send the same transaction again and get its answer', async () => {
    let release = () => {};
    library.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const before = await terminal('desk1', 'library-1');
    const args = { personId: 'p0000001', itemId: 'B-0001', txn: 'txn-reload-1' };
    const lost = before.request('library.checkout', args).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    await until(() => library.requests.length === 1, 'the station has the first request');
    await before.close();
    expect(await lost).toBe('the terminal client was closed before the reply came');

    const after = await terminal('desk1', 'library-1');
    const again = after.request('library.checkout', args);
    await until(() => library.requests.length === 2, 'the station has the request again');
    release();
    await expect(again).resolves.toMatchObject({ status: 'ok', data: { name: 'library.checkout' } });
    // The hub hands both to the station with one txn: not making a second loan is the station's part.
    expect(library.requests.map((r) => (r.args as { txn: string }).txn)).toEqual([
      'txn-reload-1',
      'txn-reload-1',
    ]);
  });
});

describe('TerminalHub: authentication and ACL', () => {
  it('refuses wrong credentials at CONNECT, over TCP and WebSocket, and logs who tried from where', async () => {
    const { password } = credentials.desk1;
    const attempt = (url: string, terminalId: string, secret: string) =>
      TerminalClient.connect({ url, terminal: terminalId, password: secret, station: 'library-1' });

    await expect(attempt(tcpUrl(), 'desk-1', 'not-the-password')).rejects.toThrow(
      /the gateway refused terminal "desk-1": .*Bad username or password/,
    );
    await expect(attempt(wsUrl(), 'desk-1', credentials.desk2.password)).rejects.toThrow(
      /the gateway refused terminal "desk-1"/,
    );
    await expect(attempt(tcpUrl(), 'nobody', password)).rejects.toThrow(
      /the gateway refused terminal "nobody"/,
    );

    const refusals = lines.filter((l) => l.msg === 'terminal refused: bad user name or password');
    expect(refusals.map((l) => l.terminal)).toEqual(['desk-1', 'desk-1', 'nobody']);
    for (const line of refusals) {
      expect(line.level).toBe(40);
      expect(line.remote).toMatch(/127\.0\.0\.1$/);
    }
  });

  it("refuses a terminal that takes another terminal's client id", async () => {
    await expect(rawTerminal('desk2', 'desk-1')).rejects.toThrow(/Identifier rejected/);
    await expect(rawTerminal('desk2', 'desk-1:page')).rejects.toThrow(/Identifier rejected/);
    expect(
      logged('terminal refused: its client id must be its terminal id, or start with it and ":"'),
    ).toMatchObject({
      terminal: 'desk-2',
      clientId: 'desk-1',
    });
    await expect(rawTerminal('desk2', 'desk-2:another-page')).resolves.toBeDefined();
  });

  it('keeps a terminal to its own stations: subscriptions elsewhere are refused', async () => {
    const one = await rawTerminal('desk1');
    const cases: [string, number][] = [
      [localTopics.gatewayState(), 1],
      [localTopics.taps('library-1'), 1],
      [localTopics.items('library-1'), 1],
      [localTopics.view('library-1'), 1],
      [localTopics.replies('library-1', 'desk-1'), 1],
      [localTopics.taps('lab-1'), 128],
      [localTopics.items('lab-1'), 128],
      [localTopics.view('lab-1'), 128],
      [localTopics.requests('library-1'), 128],
      [localTopics.replies('library-1', 'desk-2'), 128],
      ['educard/v1/local/stations/+/taps', 128],
      ['#', 128],
    ];
    for (const [topic, code] of cases) expect(await granted(one.client, topic), topic).toBe(code);
    expect(one.client.connected).toBe(true);
    expect(logged('terminal subscription refused: outside its ACL', { topic: '#' })).toBeDefined();

    await expect(terminal('desk1', 'lab-1')).rejects.toThrow(
      /the gateway does not let terminal "desk-1" use station "lab-1" \(refused: .*lab-1\/taps/,
    );
  });

  it("closes a terminal that publishes to another station's requests, which reach no station", async () => {
    const one = await rawTerminal('desk1');
    const closed = new Promise<void>((resolve) => one.client.once('close', () => resolve()));
    one.client.publish(localTopics.requests('lab-1'), request('x-1', 'lab.seats', {}), { qos: 1 });
    await closed;
    expect(logged('terminal publish refused: outside its ACL')).toMatchObject({
      terminal: 'desk-1',
      topic: localTopics.requests('lab-1'),
    });
    expect(lab.requests).toEqual([]);
    // The hub goes on serving everyone else.
    const kiosk = await terminal('kiosk', 'lab-1');
    await expect(kiosk.request('lab.seats', {})).resolves.toMatchObject({ status: 'ok' });
  });
});

describe('TerminalHub: state, views and taps', () => {
  it('reaches a terminal that connects later with the retained state and view', async () => {
    state = { ...state, online: false, backlog: 3, at: new Date().toISOString() };
    hub.publishState();
    lab.setSeats([{ seat: 'pc-01', personId: 'p0000001' }]);

    const kiosk = await terminal('kiosk', 'lab-1', wsUrl());
    await until(() => kiosk.state?.backlog === 3 && kiosk.view !== undefined, 'state and view arrive');
    expect(kiosk.state).toMatchObject({ online: false, backlog: 3, device: 'gw-01' });
    expect(kiosk.view).toMatchObject({ v: 1, station: 'lab-1', view: { seats: [{ seat: 'pc-01' }] } });
    const seen: boolean[] = [];
    kiosk.onState((s) => seen.push(s.online));
    expect(seen).toEqual([false]);

    state = { ...state, online: true, backlog: 0 };
    hub.publishState();
    await until(() => seen.length === 2, 'the new state');
    expect(seen).toEqual([false, true]);
  });

  it('publishes the state again by itself, even when no one said it changed', async () => {
    await hub.stop();
    hub = makeHub(0, 20);
    await hub.start();
    const client = await terminal('desk1', 'library-1');
    await until(() => client.state?.rosterVersion === 7, 'the first state');
    state = { ...state, rosterVersion: 8 };
    await until(() => client.state?.rosterVersion === 8, 'the state published again');
  });

  it('publishes taps to the terminals of that station only, and refuses a tap outside the contract', async () => {
    const desk = await terminal('desk1', 'library-1');
    const kiosk = await terminal('kiosk', 'lab-1');
    const deskTaps: StationTap[] = [];
    const kioskTaps: StationTap[] = [];
    desk.onTap((tap) => deskTaps.push(tap));
    kiosk.onTap((tap) => kioskTaps.push(tap));
    const tap = (station: string, kind: 'library' | 'lab'): StationTap => ({
      v: 1,
      station,
      kind,
      reader: 'desk-reader',
      at: new Date().toISOString(),
      card: '**1234',
      decision: 'grant',
      reason: 'ok',
    });
    hub.publishTap({ ...tap('library-1', 'library'), card: 'E0000000000000001234' });
    hub.publishTap(tap('library-1', 'library'));
    hub.publishTap(tap('lab-1', 'lab'));
    await until(() => deskTaps.length === 1 && kioskTaps.length === 1, 'one tap each');
    expect(deskTaps[0]).toMatchObject({ station: 'library-1', card: '**1234' });
    expect(kioskTaps.map((t) => t.station)).toEqual(['lab-1']);
    expect(logged('station tap not published', { station: 'library-1' })?.level).toBe(50);
  });

  it('publishes tagged items to the terminals of that station only, and refuses one outside the contract', async () => {
    const desk = await terminal('desk1', 'library-1');
    const other = await terminal('desk2', 'library-1');
    const kiosk = await terminal('kiosk', 'lab-1');
    const seen: Record<string, ItemPresented[]> = { desk: [], other: [], kiosk: [] };
    desk.onItem((item) => seen.desk?.push(item));
    other.onItem((item) => seen.other?.push(item));
    kiosk.onItem((item) => seen.kiosk?.push(item));
    const item = (itemId: string, station = 'library-1'): ItemPresented => ({
      v: 1,
      station,
      reader: 'Virtual PCD 00 00',
      itemId,
      at: new Date().toISOString(),
    });
    // One publish at a time, in order: had the lab's item reached a desk, it would have come first.
    hub.publishItem(item('E004010087654321', 'lab-1'));
    hub.publishItem(item('has space'));
    hub.publishItem(item('E004010012345678'));
    await until(
      () => seen.desk?.length === 1 && seen.other?.length === 1 && seen.kiosk?.length === 1,
      'one item at each terminal',
    );
    expect(seen.desk).toEqual([{ ...item('E004010012345678'), at: expect.any(String) }]);
    expect(seen.other?.map((i) => i.itemId)).toEqual(['E004010012345678']);
    expect(seen.kiosk?.map((i) => i.itemId)).toEqual(['E004010087654321']);
    expect(logged('tagged item not published', { station: 'library-1' })?.level).toBe(50);
  });

  it("shows the link to the gateway going down and coming back on the page's indicator", async () => {
    const client = await terminal('desk1', 'library-1', tcpUrl(), { reconnectPeriodMs: 50 });
    const link: boolean[] = [];
    client.onConnection((connected) => link.push(connected));
    const port = hub.ports.tcp;
    await hub.stop();
    await until(() => link.at(-1) === false, 'the link goes down');
    hub = makeHub(port);
    await hub.start();
    await until(() => link.at(-1) === true, 'the link comes back');
    expect(link[0]).toBe(true);
    await expect(client.request('library.patron', { personId: 'p0000001' })).resolves.toMatchObject({
      status: 'ok',
    });
  });
});

describe('TerminalClient', () => {
  it('refuses a request outside the contract before sending it, and times out clearly', async () => {
    const client = await terminal('desk1', 'library-1');
    await expect(
      client.request('library.checkout', { personId: 'p0000001', itemId: 'has space', txn: 'txn-0001-a' }),
    ).rejects.toThrow(/request library.checkout is malformed: args\.itemId/);
    expect(library.requests).toEqual([]);

    library.hold = new Promise<void>(() => {});
    await expect(
      client.request('library.patron', { personId: 'p0000001' }, { timeoutMs: 100 }),
    ).rejects.toThrow(/request library.patron \(.+-\d+\) got no reply from station library-1 within 100 ms/);
  });

  it('drops messages outside the contract and reports each to onProtocolError', async () => {
    // A bare broker: nothing but the client checks what arrives.
    const aedes = await Aedes.createBroker();
    const listeners = new BrokerListeners({
      handle: (stream) => aedes.handle(stream),
      limits: TERMINAL_BROKER_LIMITS,
      logger: logger(),
      name: 'bare broker',
    });
    await listeners.listenTcp('127.0.0.1', 0);
    closers.push(async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await listeners.close();
    });
    const client = await TerminalClient.connect({
      url: `mqtt://127.0.0.1:${listeners.tcpPort}`,
      terminal: 'desk-1',
      password: 'any',
      station: 'library-1',
    });
    closers.push(() => client.close());
    const errors: ProtocolError[] = [];
    client.onProtocolError((error) => errors.push(error));
    const publish = (topic: string, body: string) =>
      new Promise<void>((resolve) =>
        aedes.publish(
          { cmd: 'publish', topic, payload: Buffer.from(body), qos: 1, retain: false, dup: false },
          () => resolve(),
        ),
      );
    await publish(localTopics.taps('library-1'), 'garbage');
    await publish(localTopics.gatewayState(), JSON.stringify({ ...state, v: 2 }));
    await publish(localTopics.replies('library-1', 'desk-1'), JSON.stringify({ v: 1, id: 'x' }));
    const item = { v: 1, station: 'library-1', reader: 'r', at: new Date().toISOString() };
    await publish(localTopics.items('library-1'), JSON.stringify({ ...item, itemId: 'no spaces' }));
    await publish(localTopics.gatewayState(), JSON.stringify(state));
    await until(() => client.state !== undefined, 'the valid state');
    expect(errors).toEqual([
      { topic: localTopics.taps('library-1'), message: expect.stringMatching(/^not JSON: /) },
      { topic: localTopics.gatewayState(), message: 'message is contract version 2, this terminal speaks 1' },
      { topic: localTopics.replies('library-1', 'desk-1'), message: expect.stringMatching(/status/) },
      { topic: localTopics.items('library-1'), message: expect.stringMatching(/itemId/) },
    ]);
  });
});
