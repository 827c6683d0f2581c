import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { type Gateway, RosterStore } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { type KeyRole, SPEC_VERSION, type TerminalRequest } from '@educard/terminal-sdk';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, admin, enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

// Library desks' gateways as the service starts them (Gateway.start: journal, roster, catalogue,
// uplink and the library station over them). The bridge goes away, desks lend, the bridge comes back.

const SCHOOL = 'school-1';
// The desks and the bridge run on the real clock: so do the cards' dates.
const READER = sampleCard(1, { zones: ['library'], schedules: [], ...validAround(Date.now()) });
const OTHER_READER = sampleCard(2, { zones: ['library'], schedules: [], ...validAround(Date.now()) });

let dir: string;
let bridge: Bridge | undefined;
let ports: { mqtt: number; http: number };
const desks: Desk[] = [];
let requests = 0;

interface Desk {
  device: string;
  gateway: Gateway;
  /** A request of the desk's page to its station. */
  handle(request: TerminalRequest): ReturnType<NonNullable<Gateway['station']['handle']>>;
}

async function startDesk(device: string, anchor: KeyRole): Promise<Desk> {
  const dataDir = join(dir, device);
  const rosterDir = join(dataDir, 'roster');
  await mkdir(rosterDir, { recursive: true });
  await RosterStore.writeAnchor(rosterDir, anchor);
  const mqtt = await enrollDevice((bridge as Bridge).httpUrl, dataDir, device, SCHOOL);
  const gateway = await startUplinkGateway(
    dataDir,
    device,
    mqtt,
    (bridge as Bridge).httpUrl,
    { backoff: { initialMs: 50, maxMs: 300 } },
    { school: SCHOOL, station: { type: 'library', id: 'desk', zone: 'library', debounceMs: 0 } },
  );
  const desk: Desk = {
    device,
    gateway,
    handle: (request) => {
      const handle = gateway.station.handle?.bind(gateway.station);
      if (!handle) throw new Error(`${device} runs no library desk`);
      return handle(request);
    },
  };
  desks.push(desk);
  await until(() => gateway.roster.view?.version === 1 && gateway.localState().catalogueVersion === 1, {
    what: `${device} has roster and catalogue`,
  });
  return desk;
}

const checkout = (personId: string, itemId: string, txn: string) =>
  ({
    v: SPEC_VERSION,
    id: `req-${++requests}`,
    terminal: 'desk-page',
    name: 'library.checkout',
    args: { personId, itemId, txn },
  }) as TerminalRequest;

async function bridgeGet(path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${(bridge as Bridge).httpUrl}${path}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return (await response.json()) as Record<string, unknown>;
}

/** The bridge holds everything the desk journaled. */
const delivered = (desk: Desk) => () =>
  bridge?.store.cursor(desk.device).seq === desk.gateway.journal.stats().lastSeq;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'library-offline-'));
  bridge = await startBridge(join(dir, 'bridge'));
  ports = { mqtt: bridge.broker?.port as number, http: Number(new URL(bridge.httpUrl).port) };
  expect(
    await admin(bridge.httpUrl, `/v1/roster/${SCHOOL}/import`, { cards: [READER, OTHER_READER] }),
  ).toMatchObject({ ok: true, version: 1 });
  expect(
    await admin(bridge.httpUrl, `/v1/catalogue/${SCHOOL}/import`, {
      items: [
        { itemId: '9787020002207', title: 'Dream of the Red Chamber' },
        { itemId: '9787544253994', title: 'One Hundred Years of Solitude' },
      ],
    }),
  ).toMatchObject({ ok: true, version: 1 });
});

afterEach(async () => {
  for (const desk of desks.splice(0)) await desk.gateway.stop();
  await bridge?.stop();
  bridge = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function anchor(): Promise<KeyRole> {
  return (await (await fetch(`${(bridge as Bridge).httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
}

/** The bridge stopped, then started again on the same data and ports. */
async function bridgeDown(): Promise<() => Promise<void>> {
  await bridge?.stop();
  bridge = undefined;
  return async () => {
    bridge = await startBridge(join(dir, 'bridge'), {
      mqtt: { port: ports.mqtt },
      http: { port: ports.http },
    });
  };
}

describe('a library desk with the bridge unreachable', () => {
  it('lends offline, answers a reloaded page the same, and the loan reaches the bridge exactly once', async () => {
    const desk = await startDesk('lib-a', await anchor());
    await until(() => desk.gateway.uplink?.status().connected, { what: 'desk connected' });
    const restart = await bridgeDown();
    await until(() => !desk.gateway.uplink?.status().connected, { what: 'desk sees the bridge gone' });

    const first = await desk.handle(checkout(READER.personId, '9787020002207', 'txn-offline-0001'));
    expect(first).toMatchObject({
      status: 'ok',
      data: { loanId: 'lib-a:txn-offline-0001', source: 'local', title: 'Dream of the Red Chamber' },
    });
    // The page reloaded mid-transaction and sent it again.
    expect(await desk.handle(checkout(READER.personId, '9787020002207', 'txn-offline-0001'))).toEqual(first);

    await restart();
    await until(delivered(desk), { what: 'the journal reached the bridge' });
    // And once more after reconnection: still one loan.
    expect(await desk.handle(checkout(READER.personId, '9787020002207', 'txn-offline-0001'))).toEqual(first);
    await until(delivered(desk), { what: 'the journal reached the bridge' });

    const live = bridge as Bridge;
    const events = live.store.queryEvents({ device: 'lib-a', type: 'library.checkout', limit: 100 });
    expect(events).toHaveLength(1);
    const { loans } = (await bridgeGet(`/v1/library/${SCHOOL}/loans?open=true`)) as {
      loans: { loanId: string; personId: string; itemId: string; device: string }[];
    };
    expect(loans).toEqual([
      expect.objectContaining({
        loanId: 'lib-a:txn-offline-0001',
        personId: READER.personId,
        itemId: '9787020002207',
        device: 'lib-a',
        source: 'local',
      }),
    ]);
    expect(await bridgeGet(`/v1/library/${SCHOOL}/conflicts`)).toMatchObject({ conflicts: [] });
  });

  it('reports the same item lent by two desks while both were offline', async () => {
    const root = await anchor();
    const a = await startDesk('lib-a', root);
    const b = await startDesk('lib-b', root);
    const restart = await bridgeDown();

    const lentA = await a.handle(checkout(READER.personId, '9787544253994', 'txn-desk-a-0001'));
    const lentB = await b.handle(checkout(OTHER_READER.personId, '9787544253994', 'txn-desk-b-0001'));
    expect(lentA.status).toBe('ok');
    expect(lentB.status).toBe('ok');

    await restart();
    await until(() => delivered(a)() && delivered(b)(), { what: 'both journals reached the bridge' });
    const { conflicts } = (await bridgeGet(`/v1/library/${SCHOOL}/conflicts`)) as {
      conflicts: {
        itemId: string;
        loanId: string;
        otherLoanId: string;
        loans: { device: string; personId: string }[];
      }[];
    };
    expect(conflicts).toHaveLength(1);
    const [conflict] = conflicts;
    expect(conflict?.itemId).toBe('9787544253994');
    expect([conflict?.loanId, conflict?.otherLoanId].sort()).toEqual([
      'lib-a:txn-desk-a-0001',
      'lib-b:txn-desk-b-0001',
    ]);
    expect(conflict?.loans.map((l) => [l.device, l.personId]).sort()).toEqual([
      ['lib-a', READER.personId],
      ['lib-b', OTHER_READER.personId],
    ]);
    const { loans } = (await bridgeGet(`/v1/library/${SCHOOL}/loans?open=true`)) as { loans: unknown[] };
    expect(loans).toHaveLength(2);
  });
});
