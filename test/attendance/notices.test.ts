import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge, Notice, PassageNotice, RefusalNotice } from '@educard/cloud-bridge';
import { until } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startBridge } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';
import { commitTaps } from '../support/gate-passages.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const SCHOOL = 'school-1';
const SECRET = 'parent-notices-secret-0123456789abcdef';

let dir: string;
let bridge: Bridge;
let receiver: WebhookReceiver;

const config = () => ({
  notices: {
    tickMs: 25,
    webhooks: [
      {
        school: SCHOOL,
        url: receiver.url,
        secret: SECRET,
        debounceMs: 300,
        batchWindowMs: 100,
        refusals: true,
        maxAttempts: 5,
        timeoutMs: 400,
        // Five attempts take at least 1.4 s: a bridge stopped while its receiver is down (below) must not
        // have given the delivery up first, however loaded the machine.
        backoff: { initialMs: 400, maxMs: 800 },
      },
    ],
  },
});

interface HookStatus {
  pending: number;
  failed: number;
  delivered: number;
  lastError?: string;
  failedDeliveries: { id: string; notices: number; attempts: number; lastError: string }[];
}

async function status(): Promise<HookStatus> {
  const response = await fetch(`${bridge.httpUrl}/v1/notices/status`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const body = (await response.json()) as { webhooks: HookStatus[] };
  expect(body.webhooks).toHaveLength(1);
  return body.webhooks[0] as HookStatus;
}

/** A notice in a few words: whose, and where the pupil went (or that they did not come). */
const said = (notice: Notice) => `${notice.personId} ${'kind' in notice ? notice.kind : notice.direction}`;
const now = (ms = 0) => new Date(Date.now() + ms).toISOString();
const noticesOf = (personId: string) => receiver.notices.filter((n) => n.personId === personId);
const settled = async () => (await status()).pending === 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'notices-'));
  receiver = await WebhookReceiver.start(SECRET);
  bridge = await startBridge(dir, config());
  for (const n of [1, 2, 3])
    bridge.directory.putPerson({
      id: `p${n}`,
      school: SCHOOL,
      role: 'student',
      name: `学生${n}`,
      class: '3-1',
      studentNumber: `G11010120150101000${n}`,
      active: true,
    });
});
afterAll(async () => {
  await bridge.stop();
  await receiver.down();
  await rm(dir, { recursive: true, force: true });
});

describe('parent notices', () => {
  it('are debounced per pupil, batched into one signed POST, for pupils of the school only', async () => {
    commitTaps(bridge, 'gate-1', SCHOOL, [
      { personId: 'p1', at: now(), direction: 'in' },
      { personId: 'p1', at: now(50), direction: 'in' },
      { personId: 'p2', at: now(), direction: 'in' },
      { personId: 'p2', at: now(40), direction: 'out' },
      { personId: 'p2', at: now(80), direction: 'in' },
      { personId: 'p3', at: now(), direction: 'in' },
      { personId: 't1', at: now(), direction: 'in', role: 'teacher' },
      { personId: 'p3', at: now(), direction: 'out', decision: 'deny' },
    ]);
    commitTaps(bridge, 'gate-9', 'school-2', [{ personId: 'p9', at: now(), direction: 'in' }]);
    await until(() => receiver.notices.length >= 3, { what: 'three notices' });
    await until(settled, { what: 'nothing pending' });
    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    expect(delivery?.header).toBe(delivery?.deliveryId);
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.notices.map((n) => `${n.personId} ${n.direction}`).sort()).toEqual([
      'p1 in',
      'p2 in',
      'p3 in',
    ]);
    expect(noticesOf('p2')[0]).toEqual({
      id: expect.stringMatching(/^n\d+$/),
      school: SCHOOL,
      personId: 'p2',
      studentNumber: 'G110101201501010002',
      name: '学生2',
      class: '3-1',
      direction: 'in',
      at: expect.any(String),
      device: 'gate-1',
    } satisfies Record<keyof PassageNotice, unknown>);
    expect(delivery?.raw).not.toContain('CARD-');
    expect(await status()).toMatchObject({ pending: 0, failed: 0, delivered: 3 });
  });

  it('are re-sent with the same delivery id after a 500, a stalled answer and a 429', async () => {
    receiver.failNext('fail', 'stall', 'throttle');
    commitTaps(bridge, 'gate-1', SCHOOL, [{ personId: 'p1', at: now(), direction: 'out' }]);
    await until(() => noticesOf('p1').length === 2, { what: 'the exit notice' });
    const tries = receiver.received.slice(1);
    expect(tries).toHaveLength(4);
    expect(new Set(tries.map((t) => t.deliveryId)).size).toBe(1);
    expect(noticesOf('p1')[1]).toMatchObject({ direction: 'out' });
    await until(settled, { what: 'nothing pending' });
    expect(await status()).toMatchObject({ pending: 0, failed: 0, delivered: 4, lastError: 'HTTP 429' });
  });

  it('are given up at once on a 4xx, and after maxAttempts on 5xx; the status shows them', async () => {
    receiver.failNext('reject');
    commitTaps(bridge, 'gate-1', SCHOOL, [{ personId: 'p3', at: now(), direction: 'out' }]);
    await until(async () => (await status()).failed === 1, { what: 'a failed delivery' });
    receiver.failNext('fail', 'fail', 'fail', 'fail', 'fail');
    commitTaps(bridge, 'gate-1', SCHOOL, [{ personId: 'p2', at: now(), direction: 'out' }]);
    await until(async () => (await status()).failed === 2, { what: 'a second failed delivery' });
    const held = await status();
    expect(held).toMatchObject({ pending: 0, failed: 2, lastError: 'HTTP 500' });
    expect(held.failedDeliveries.map((d) => [d.attempts, d.lastError])).toEqual([
      [5, 'HTTP 500'],
      [1, 'HTTP 400'],
    ]);
    expect(noticesOf('p3')).toHaveLength(1);
  });

  it('wait while the receiver is down, survive a restart of the bridge, and are never confirmed twice', async () => {
    await receiver.down();
    commitTaps(bridge, 'gate-1', SCHOOL, [{ personId: 'p2', at: now(), direction: 'in' }]);
    await until(async () => /ECONNREFUSED/.test((await status()).lastError ?? ''), {
      what: 'a refused connection',
    });
    expect((await status()).pending).toBe(1);
    const before = receiver.received.length;
    await bridge.stop();
    await receiver.up();
    bridge = await startBridge(dir, config());
    await until(() => noticesOf('p2').length === 2, { what: 'the notice after the restart' });
    await until(settled, { what: 'nothing pending' });
    const after = receiver.received.slice(before);
    expect(after).toHaveLength(1);
    expect(after[0]?.notices.map(said)).toEqual(['p2 in']);
    const ids = receiver.notices.map((n) => n.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(receiver.notices).toHaveLength(5);
    expect(await status()).toMatchObject({ pending: 0, failed: 2, delivered: 5 });
  });

  it('sends a given-up delivery again when asked, with its delivery id, and audits who asked', async () => {
    const [newest] = (await status()).failedDeliveries;
    const id = newest?.id as string;
    const retry = () =>
      fetch(`${bridge.httpUrl}/v1/notices/deliveries/${id}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
    expect((await retry()).status).toBe(200);
    await until(() => receiver.accepted.has(id), { what: 'the delivery confirmed' });
    expect(receiver.accepted.get(id)?.notices.map(said)).toEqual(['p2 out']);
    await until(settled, { what: 'nothing pending' });
    expect(await status()).toMatchObject({ pending: 0, failed: 1, delivered: 6 });
    // Delivered now, it is no longer a given-up delivery to retry.
    expect((await retry()).status).toBe(404);
    const audit = await fetch(`${bridge.httpUrl}/v1/audit?action=notices.delivery.retry`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(((await audit.json()) as { entries: unknown[] }).entries).toMatchObject([
      { actor: 'admin-token', target: `delivery:${id}`, school: SCHOOL, outcome: 'ok' },
    ]);
  });

  it('educard-bridge notices status shows a given-up delivery, and retry sends it again', {
    timeout: 60_000,
  }, async () => {
    const cli = (...args: string[]) =>
      bridgeCli([...args, '--url', bridge.httpUrl, '--admin-token', ADMIN_TOKEN]);
    const [left] = (await status()).failedDeliveries;
    const id = left?.id as string;
    const shown = await cli('notices', 'status');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      new RegExp(`\\(school ${SCHOOL}; passages, refusals\\): 0 pending, 6 delivered, 1 given up`),
    );
    expect(shown.stdout).toMatch(new RegExp(`${id} +1 +\\d+ +HTTP 400`));
    const sent = await cli('notices', 'retry', id);
    expect(sent.code, sent.stderr).toBe(0);
    await until(() => receiver.accepted.has(id), { what: 'the delivery confirmed' });
    const again = await cli('notices', 'retry', id);
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining(`no given-up delivery ${id}`)]);
    const json = await cli('notices', 'status', '--json');
    expect(JSON.parse(json.stdout).webhooks[0]).toMatchObject({ failed: 0, failedDeliveries: [] });
  });

  it('tell a parent their child was refused at the gate and is outside: not a lockdown, not a pupil inside', async () => {
    bridge.directory.putPerson({
      id: 'p4',
      school: SCHOOL,
      role: 'student',
      name: '学生4',
      class: '3-2',
      active: true,
    });
    const before = receiver.notices.length;
    // p1 went out last (above), p2 in, p3 out; p4 has not passed a gate yet.
    commitTaps(bridge, 'gate-2', SCHOOL, [
      { personId: 'p1', at: now(), direction: 'in', decision: 'deny', reason: 'expired' },
      { personId: 'p2', at: now(), direction: 'in', decision: 'deny', reason: 'passback' },
      { personId: 'p3', at: now(), direction: 'in', decision: 'deny', reason: 'lockdown' },
      { personId: 'p4', at: now(), direction: 'in', decision: 'deny', reason: 'card-unreadable' },
      { personId: 'p4', at: now(100), direction: 'in' },
    ]);
    await until(() => receiver.refusals.length === 1 && receiver.notices.length === before + 1, {
      what: 'the refusal notice and the entry after a misread',
    });
    await until(settled, { what: 'nothing pending' });
    expect(receiver.refusals).toEqual([
      {
        id: expect.stringMatching(/^r\d+$/),
        kind: 'refused',
        school: SCHOOL,
        personId: 'p1',
        studentNumber: 'G110101201501010001',
        name: '学生1',
        class: '3-1',
        at: expect.any(String),
        device: 'gate-2',
        reason: 'expired',
      } satisfies Record<keyof RefusalNotice, unknown>,
    ]);
    expect(receiver.notices.slice(before).map(said)).toEqual(['p4 in']);
    expect(receiver.absences).toEqual([]);
  });
});
