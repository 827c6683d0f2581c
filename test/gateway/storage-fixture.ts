import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Bridge } from '@educard/cloud-bridge';
import { createLogger, type Logger, RosterStore } from '@educard/gateway';
import type { CardEntry, KeyRole } from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import { expect } from 'vitest';
import { admin, enrollDevice, startBridge } from '../support/bridge.js';

const DAY = 86_400_000;

/**
 * A card of the main gate at any hour, valid from a month before `now` to 300 days after it: the
 * tests run on the real clock and derive every date from it.
 */
export function gateCard(n: number, overrides: Partial<CardEntry> = {}, now = Date.now()): CardEntry {
  return sampleCard(n, {
    validFrom: new Date(now - 30 * DAY).toISOString(),
    validUntil: new Date(now + 300 * DAY).toISOString(),
    zones: ['main-gate'],
    schedules: [],
    ...overrides,
  });
}

export type Enrolled = Awaited<ReturnType<typeof enrollDevice>>;

/**
 * A school's bridge (in `dir`/bridge) with a roster of `cards`, and a device in `dataDir` as a
 * technician leaves it: the school's root keys pinned, enrolled with a token.
 */
export async function schoolWithDevice(
  dir: string,
  dataDir: string,
  device: string,
  cards: CardEntry[],
): Promise<{ bridge: Bridge; credentials: Enrolled }> {
  const bridge = await startBridge(join(dir, 'bridge'));
  expect(await admin(bridge.httpUrl, '/v1/roster/school-1/import', { cards })).toMatchObject({ ok: true });
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  const credentials = await enrollDevice(bridge.httpUrl, dataDir, device);
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  return { bridge, credentials };
}

/** The uplink section of a gateway's configuration for an enrolled device: quick to retry. */
export function uplinkTo(bridge: Bridge, credentials: Enrolled) {
  return {
    url: credentials.url,
    username: credentials.username,
    password: credentials.password,
    bridgeHttp: bridge.httpUrl,
    backoff: { initialMs: 50, maxMs: 500 },
    batch: { ackTimeoutMs: 2000 },
  };
}

/** A logger whose lines land, parsed, in `lines`. */
export function capturingLogger(name: string, lines: Record<string, unknown>[]): Logger {
  return createLogger(name, {
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    }),
  });
}
