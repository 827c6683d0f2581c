import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAMPLE_MONDAY, sampleCard, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlSocketPath, type GatewayConfigInput, parseConfig } from '../config/index.js';
import { watchGateway } from '../control/index.js';
import { recordingIoFor } from '../io/index.js';
import { createLogger } from '../log/index.js';
import type { SimulatedReaderDriver } from '../readers/index.js';
import { RosterStore } from '../roster/index.js';
import { Gateway } from './index.js';

// Every station type through the whole runtime, on the sample fixtures' clock (a Monday morning).

type StationInput = NonNullable<GatewayConfigInput['station']>;

const PINS = { relay: 4, greenLed: 5, redLed: 6, buzzer: 7 };
const AT = SAMPLE_MONDAY + 2 * 3_600_000;
const STATIONS = {
  gate: { type: 'gate', id: 'gate-main', zone: 'main-gate' },
  library: { type: 'library', id: 'library-1', zone: 'library' },
  lab: { type: 'lab', id: 'lab-1', zone: 'lab', seats: [{ id: 'pc-01' }], closing: '21:00' },
  venue: {
    type: 'venue',
    id: 'museum',
    zone: 'museum-door',
    hours: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '23:59' }],
  },
} satisfies Record<string, StationInput>;

let dir: string;
let lines: string[];
let gateway: Gateway | undefined;
let blocker: Server | undefined;

function configFor(station: StationInput, extra: Partial<GatewayConfigInput> = {}) {
  return parseConfig({
    device: { id: 'gw-1', school: 'school-1' },
    dataDir: dir,
    station: { debounceMs: 0, ...station },
    readers: { simulated: ['desk-in'] },
    io: { pins: PINS },
    ...extra,
  });
}

async function start(config: ReturnType<typeof parseConfig>) {
  const authority = new TestAuthority('school-1', { now: () => AT });
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  const logger = createLogger('gateway', {
    level: 'debug',
    destination: { write: (line: string) => lines.push(line) } as never,
  });
  gateway = await Gateway.start({
    config,
    logger,
    io: recordingIoFor(config.io),
    now: () => AT,
    synced: () => true,
  });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(1, [sampleCard(1, { zones: ['main-gate', 'library', 'lab'] })]);
  await gateway.acceptRoster(roster.manifest, roster.body);
  return gateway;
}

/** A TCP port nobody listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stations-'));
  lines = [];
});
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
  blocker = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('live taps on the control socket', () => {
  it.each(Object.keys(STATIONS) as (keyof typeof STATIONS)[])(
    'show every tap of a %s station, as status lists it',
    async (type) => {
      const live = await start(configFor(STATIONS[type]));
      expect(live.station.kind).toBe(type);
      const events: Record<string, unknown>[] = [];
      const watching = new AbortController();
      const watched = watchGateway(
        controlSocketPath(live.config),
        'taps.watch',
        (event) => events.push(event as Record<string, unknown>),
        watching.signal,
      );
      // The stream is open once the server has read the request: tap until a tap shows (no debounce here).
      const uid = sampleCard(1).credential.uid as string;
      const driver = live.readers as SimulatedReaderDriver;
      await expect
        .poll(
          () => {
            driver.present('desk-in', { uid });
            driver.remove('desk-in');
            return events.length;
          },
          { timeout: 5_000 },
        )
        .toBeGreaterThan(0);
      watching.abort();
      await watched;
      const event = events.at(-1);
      expect(event).toMatchObject({ reader: 'desk-in', card: `******${uid.slice(-4)}` });
      expect(['grant', 'deny']).toContain(event?.decision);
      const { lastTaps } = live.report();
      expect(lastTaps.length).toBeGreaterThanOrEqual(events.length);
      expect(lastTaps.at(-1)).toEqual(
        expect.objectContaining({
          at: event?.at,
          reader: 'desk-in',
          decision: event?.decision,
          reason: event?.reason,
        }),
      );
      expect(JSON.stringify(lines)).not.toContain(uid);
    },
  );
});

describe('a start that fails', () => {
  it('stops the parts it had started, so the next start finds the journal closed and the ports free', async () => {
    const port = await freePort();
    const config = configFor(STATIONS.lab, { terminals: { host: '127.0.0.1', port, wsPort: false } });
    // Another process answering on the control socket: the start must give up after the terminals began.
    blocker = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => blocker?.listen(controlSocketPath(config), resolve));
    await expect(start(config)).rejects.toThrow(/already running on the control socket/);
    gateway = undefined;
    expect(lines.some((line) => line.includes('gateway start failed'))).toBe(true);

    // The terminals' broker let go of its port, and the journal was closed with its start record.
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => again.close(resolve));
    await new Promise((resolve) => blocker?.close(resolve));
    blocker = undefined;
    const live = await start(config);
    await live.journal.flush();
    const starts = (await live.journal.read(1, 100)).filter((record) => record.type === 'gateway.started');
    expect(starts).toHaveLength(2);
  });
});
