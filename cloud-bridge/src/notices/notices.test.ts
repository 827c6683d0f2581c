import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import { Attendance } from '../attendance/index.js';
import { Directory } from '../directory/index.js';
import { libraryRecords } from '../store/conformance.js';
import { openTestStore } from '../store/test-store.js';
import { NoticesConfig } from './config.js';
import { addPassage, type Burst, hasSettled, type Passage } from './debounce.js';
import { NoticeLedger } from './ledger.js';
import { signatureHeader, verifySignature } from './signature.js';

const T0 = Date.parse('2026-11-23T00:00:00.000Z');
const DEBOUNCE = 120_000;
let eventId = 0;
const tap = (seconds: number, direction: 'in' | 'out', device = 'gate-1'): Passage => ({
  eventId: ++eventId,
  school: 'school-1',
  personId: 'p1',
  at: new Date(T0 + seconds * 1000).toISOString(),
  direction,
  device,
});

/** Runs passages through the rule as the ledger does; returns the notices and the state left. */
function run(passages: Passage[], settleAt?: number, debounceMs = DEBOUNCE) {
  let state: Burst | undefined;
  const notices: Burst[] = [];
  let stale = 0;
  for (const passage of passages) {
    const outcome = addPassage(state, passage, debounceMs);
    if (outcome.kind === 'stale') stale++;
    if (outcome.kind === 'settled') notices.push(outcome.settled);
    state = outcome.burst;
  }
  if (settleAt !== undefined && state && hasSettled(state, T0 + settleAt * 1000, debounceMs)) {
    notices.push(state);
    state = { ...state, open: false };
  }
  return {
    notices: notices.map((n) => `${n.direction}@${(Date.parse(n.lastAt) - T0) / 1000}`),
    state,
    stale,
  };
}

describe('the debounce rule', () => {
  it('two taps in a row are one notice, once the burst has been quiet for the window', () => {
    expect(run([tap(0, 'in'), tap(5, 'in')], 124).notices).toEqual([]);
    expect(run([tap(0, 'in'), tap(5, 'in')], 125).notices).toEqual(['in@5']);
  });

  it('in, out and in again within the window is one notice: in', () => {
    expect(run([tap(0, 'in'), tap(30, 'out'), tap(100, 'in')], 220).notices).toEqual(['in@100']);
  });

  it('in then out within the window settles to out: where the pupil is now', () => {
    expect(run([tap(0, 'in'), tap(60, 'out')], 180).notices).toEqual(['out@60']);
  });

  it('passages further apart than the window are a notice each, the first without waiting for the clock', () => {
    const { notices, state } = run([tap(0, 'in'), tap(8 * 3600, 'out')]);
    expect(notices).toEqual(['in@0']);
    expect(state).toMatchObject({ open: true, direction: 'out' });
  });

  it('a late passage inside the open burst joins it without changing where the pupil is', () => {
    const { notices } = run([tap(0, 'in'), tap(90, 'in', 'gate-2'), tap(60, 'out', 'gate-3')], 300);
    expect(notices).toEqual(['in@90']);
  });

  it('a late passage older than what the parent was told is stale and dropped', () => {
    const told = run([tap(3600, 'in')], 4000);
    expect(told.notices).toEqual(['in@3600']);
    const late = addPassage(told.state, tap(1800, 'out'), DEBOUNCE);
    expect(late.kind).toBe('stale');
    // Later than the notice, even within the window: a new burst (the parent's picture changed).
    expect(addPassage(told.state, tap(3700, 'out'), DEBOUNCE).kind).toBe('opened');
    const open = run([tap(7200, 'in'), tap(100, 'out')]);
    expect(open.stale).toBe(1);
  });

  it('a window of 0 notifies every passage', () => {
    expect(run([tap(0, 'in'), tap(1, 'out'), tap(2, 'in')], 2, 0).notices).toEqual(['in@0', 'out@1', 'in@2']);
  });
});

describe('the signature', () => {
  const secret = 's'.repeat(32);
  const body = '{"deliveryId":"d1","notices":[]}';
  const now = 1_795_000_000;
  it('verifies what was signed, within the tolerance', () => {
    const header = signatureHeader(secret, body, now);
    expect(header).toMatch(/^t=1795000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(header, body, secret, { nowSeconds: now + 299 })).toEqual({ ok: true, t: now });
  });

  it('refuses a changed body, another secret, an old time, a malformed or missing header', () => {
    const header = signatureHeader(secret, body, now);
    const check = (h: string | undefined, b = body, s = secret, at = now) =>
      verifySignature(h, b, s, { nowSeconds: at });
    expect(check(header, body.replace('d1', 'd2'))).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(check(header, body, 'x'.repeat(32))).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(check(header, body, secret, now + 301)).toEqual({ ok: false, reason: 'signature too old' });
    // A replay with a fresh t but the old MAC.
    expect(check(header.replace(`t=${now}`, `t=${now + 100}`), body, secret, now + 100).ok).toBe(false);
    expect(check('v1=abc')).toEqual({ ok: false, reason: 'malformed signature' });
    expect(check(undefined)).toEqual({ ok: false, reason: 'no signature' });
  });
});

describe('the notices config', () => {
  it('asks for a long secret and an http(s) URL; fills in the defaults', () => {
    const hook = { url: 'https://sms.example.cn/hook', secret: 'k'.repeat(32) };
    expect(NoticesConfig.parse({ webhooks: [hook] }).webhooks[0]).toMatchObject({
      debounceMs: 120_000,
      batchWindowMs: 2000,
      batchMax: 100,
      maxAttempts: 10,
    });
    expect(NoticesConfig.safeParse({ webhooks: [{ ...hook, secret: 'short' }] }).success).toBe(false);
    expect(NoticesConfig.safeParse({ webhooks: [{ ...hook, url: 'ftp://x/y' }] }).success).toBe(false);
    expect(NoticesConfig.safeParse({ webhooks: [hook, hook] }).success).toBe(false);
  });
});

describe('the ledger', () => {
  it('batches settled notices up to batchMax, of pupils only, and resumes after reopening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'notices-'));
    try {
      const path = join(dir, 'bridge.db');
      let store = openTestStore(path);
      const directory = new Directory(store.database);
      new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai' });
      const hook = { key: 'h1', debounceMs: 1000, batchWindowMs: 500, batchMax: 2 };
      let ledger = new NoticeLedger(store.database);
      ledger.register(hook.key);
      const at = (s: number) => new Date(T0 + s * 1000).toISOString();
      const taps: [string, string, Record<string, unknown>][] = ['a', 'b', 'c', 'd', 'e'].map(
        (personId, i) => ['gate.decision', at(i), gateDecisionData({ personId })],
      );
      taps.push(['gate.decision', at(6), gateDecisionData({ personId: 't', role: 'teacher' })]);
      store.commitRecords('gate-1', 'school-1', libraryRecords('gate-1', taps));
      const people = {
        schoolOf: (_person: string, _at: string, gateSchool: string) => gateSchool,
        describe: (burst: Burst) => ({
          school: burst.school,
          personId: burst.personId,
          name: burst.personId,
        }),
      };
      // Nothing has settled yet at +4.5 s (e settles at +5 s).
      expect(ledger.advance(hook, T0 + 4500, people, store.settledEventId())).toMatchObject({
        read: 6,
        notices: 4,
        deliveries: 2,
      });
      store.close();
      store = openTestStore(path);
      ledger = new NoticeLedger(store.database);
      ledger.register(hook.key);
      expect(ledger.advance(hook, T0 + 5000, people, store.settledEventId())).toMatchObject({
        read: 0,
        notices: 1,
        deliveries: 0,
      });
      expect(ledger.advance(hook, T0 + 5500, people, store.settledEventId())).toMatchObject({
        notices: 0,
        deliveries: 1,
      });
      const bodies: string[] = [];
      for (let next = ledger.nextDelivery('h1'); next; next = ledger.nextDelivery('h1')) {
        bodies.push(next.body);
        ledger.delivered('h1', next.seq, T0 + 6000);
      }
      const notified = bodies.map((b) =>
        (JSON.parse(b) as { notices: { personId: string }[] }).notices.map((n) => n.personId),
      );
      expect(notified).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect(ledger.status('h1')).toMatchObject({ pending: 0, failed: 0, delivered: 5 });
      store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
