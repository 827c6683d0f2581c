import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Bridge, loadRosterKeys } from '@educard/cloud-bridge';
import {
  createLogger,
  type Gateway,
  RosterStore,
  type SimulatedReaderDriver,
  simulatedCpuCard,
} from '@educard/gateway';
import { until } from '@educard/scripts/support';
import {
  type Ed25519KeyPair,
  type EventRecord,
  type KeyRole,
  keyRole,
  RosterKeySet,
  signDocument,
} from '@educard/terminal-sdk';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  sampleEduApplet,
  sampleUid,
} from '@educard/terminal-sdk/testing';
import type { Logger } from 'pino';
import { asAdmin } from './accounts.js';
import { enrollDevice, startUplinkGateway } from './bridge.js';

/**
 * Names card issuers in the bridge's next key set, the way `educard-bridge keys rotate --card-issuers`
 * does: prepared by the bridge, signed with the root key it made on first start (in its dataDir).
 */
export async function nameCardIssuers(bridge: Bridge, issuers: Ed25519KeyPair[]): Promise<number> {
  const base = bridge.httpUrl;
  const prepared = await asAdmin(base, 'POST', '/v1/keys/roster/rotate/prepare', {
    cardIssuers: keyRole(issuers),
  });
  if (prepared.status !== 200) throw new Error(`rotation not prepared: ${JSON.stringify(prepared.body)}`);
  const root = (await loadRosterKeys(bridge.config.dataDir))?.root ?? [];
  const keySet = RosterKeySet.parse(prepared.body.keySet);
  const committed = await asAdmin(base, 'POST', '/v1/keys/keysets', {
    pendingId: prepared.body.pendingId,
    keySet: signDocument(keySet, root),
  });
  if (committed.status !== 200) throw new Error(`key set refused: ${JSON.stringify(committed.body)}`);
  return committed.body.version as number;
}

/**
 * A venue gateway enrolled at the bridge (site `school`), open every hour of every day unless told
 * otherwise, with simulated readers `door-in` and `door-out` and no debounce; it fetches bodies from
 * `bridgeHttp` (the bridge itself unless told otherwise).
 */
export async function startVenueGateway(
  bridge: Bridge,
  dataDir: string,
  device: string,
  {
    school = 'museum',
    station = {},
    bridgeHttp = bridge.httpUrl,
    logger = createLogger(device, { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
  }: { school?: string; station?: Record<string, unknown>; bridgeHttp?: string; logger?: Logger } = {},
): Promise<Gateway> {
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const mqtt = await enrollDevice(bridge.httpUrl, dataDir, device, school);
  return startUplinkGateway(
    dataDir,
    device,
    mqtt,
    bridgeHttp,
    {},
    {
      school,
      station: {
        type: 'venue',
        id: 'science-museum',
        zone: 'museum-door',
        debounceMs: 0,
        hours: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '24:00' }],
        ...station,
      },
      readers: ['door-in', 'door-out'],
      logger,
    },
  );
}

/** Presents a card at a venue's reader and returns what the venue made of it. */
export function tapAt(
  venue: Gateway,
  reader: string,
  card: Parameters<SimulatedReaderDriver['present']>[1],
): { decision: string; reason: string; record: EventRecord } {
  let outcome: { decision: string; reason: string; record: EventRecord } | undefined;
  const off = venue.station.events.on('tap', (o) => {
    if (o.record) outcome = { decision: o.decision.decision, reason: o.decision.reason, record: o.record };
  });
  const driver = venue.readers as SimulatedReaderDriver;
  driver.present(reader, card);
  driver.remove(reader);
  off();
  if (!outcome) throw new Error(`no decision at ${reader}`);
  return outcome;
}

/** Waits until the venue holds a hotlist of at least `version`, and a key set naming card issuers. */
export function venueReady(venue: Gateway, version = 1): Promise<true> {
  return until(
    () =>
      (venue.venue?.hotlist.version ?? 0) >= version &&
      (venue.roster.keySetChain.at(-1)?.cardIssuerKeys.size ?? 0) > 0,
    // A bridge on PostgreSQL beside a loaded suite (one round trip per statement, in the test's own
    // process) was seen to take longer than the default wait: this waits for a state, it times nothing.
    { what: `the venue's hotlist ${version} and a key set naming card issuers`, timeoutMs: 45_000 },
  );
}

/**
 * A pupil's card as a venue sees it, certified now (on the real clock): school A's issuer below
 * 500,000, school B's from there on.
 */
export const venuePupil = (n: number) =>
  simulatedCpuCard(
    sampleUid(n),
    sampleEduApplet(n, Date.now(), n >= 500_000 ? SAMPLE_CARD_ISSUER_B : SAMPLE_CARD_ISSUER),
  );
