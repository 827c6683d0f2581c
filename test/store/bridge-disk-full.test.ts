import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway } from '@educard/gateway';
import { fillDisk, launchChromium, type Mounted, mountTmpfs, until } from '@educard/scripts/support';
import { pino } from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  admin,
  bridgeHealth,
  enrolledGatewayConfig,
  startBridge,
  startTappingGate,
} from '../support/bridge.js';
import { educard } from '../support/cli.js';
import { screenshot, signInToBridge } from '../support/pages.js';

const PASSWORD = 'correct horse battery staple';

// A bridge on SQLite whose data directory is on a tmpfs of 16 MiB mounted by the test (as root, as the
// gateway's disk-full test), filled to the last byte by a file beside it while a gate taps.
let dir: string;
let disk: Mounted | undefined;
let bridge: Bridge | undefined;
let gate: Gateway | undefined;
let second: Gateway | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-disk-full-'));
  disk = await mountTmpfs(dir, 16 * 1024 * 1024);
});
afterAll(async () => {
  await browser?.close();
  await gate?.stop();
  await second?.stop();
  await bridge?.stop();
  await disk?.unmount();
  await rm(dir, { recursive: true, force: true });
});

describe('a bridge whose disk fills up', () => {
  it('stays up, acknowledges nothing it could not store, says so once, in /health, doctor and the pages, and stores everything once space is back', async () => {
    const lines: { level: number; msg: string; err?: { code?: string } }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    bridge = await startBridge(join(disk?.path as string, 'bridge'), {}, { logger });
    const running = bridge;
    const health = () => bridgeHealth(running.httpUrl);
    const config = await enrolledGatewayConfig(dir, running.httpUrl, 'gate-east');
    const { gateway: west, tap, stored, allStored } = await startTappingGate(running, dir, 'gate-west');
    gate = west;
    // A second gate, so that the batches of several devices fail together (one group commit, one error).
    const north = await startTappingGate(running, dir, 'gate-north');
    second = north.gateway;
    for (let i = 0; i < 3; i++) {
      tap();
      north.tap();
    }
    await until(() => allStored() && north.allStored(), { what: "the gates' first taps stored" });
    expect(await health()).toMatchObject({ status: 200, body: { ok: true } });
    // A head teacher reading attendance, signed in before the disk fills (a session is a row).
    expect(
      await admin(running.httpUrl, '/v1/accounts', {
        username: 'hana',
        displayName: 'Hana',
        role: 'head-teacher',
        school: 'school-1',
        className: '7-1',
        password: PASSWORD,
      }),
    ).toMatchObject({ account: { username: 'hana' } });
    browser = await launchChromium();
    const page = await signInToBridge(browser, running.httpUrl, 'hana', {
      password: PASSWORD,
      timezoneId: 'Asia/Shanghai',
    });
    const banner = page.getByRole('alert').filter({ hasText: 'stored no gate events since' });
    expect(await banner.count()).toBe(0);

    await fillDisk(disk?.path as string);
    // More than the WAL's pages already on the disk can hold: its commits need the disk to grow.
    for (let i = 0; i < 3000; i++) {
      tap();
      if (i % 3 === 0) north.tap();
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const full = await until(
      async () => {
        const answer = await health();
        return answer.status === 503 ? answer : undefined;
      },
      { what: '/health to say the bridge cannot store events' },
    );
    expect(full.body).toMatchObject({
      ok: false,
      storeFailure: { since: expect.any(String), error: 'database or disk is full' },
    });
    expect(full.body.ingest.failed).toBeGreaterThan(0);
    // Nothing is acknowledged that was not stored: the gate keeps the rest.
    const { ackedSeq, lastSeq } = west.journal.stats();
    expect(ackedSeq).toBe(Math.max(...stored()));
    expect(ackedSeq).toBeLessThan(lastSeq);
    // The API reads on.
    expect(await admin(running.httpUrl, '/v1/devices')).toMatchObject({
      devices: expect.arrayContaining([expect.objectContaining({ id: 'gate-west' })]),
    });
    // A write of the API is refused as the server's trouble, 503 with when to ask again, not as a bug
    // (500). A small write may still find room now and then (as a commit may), so it asks until one is
    // refused.
    const refused = await until(
      async () => {
        const response = await fetch(`${running.httpUrl}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ school: 'school-1', count: 50 }),
        });
        if (response.ok) return undefined;
        const body = await response.json();
        return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
      },
      { what: 'a write of the API refused for the full disk' },
    );
    expect(refused).toMatchObject({
      status: 503,
      retryAfter: '60',
      body: { error: 'store-full', message: expect.stringMatching(/database or disk is full/) },
    });
    expect(
      lines.filter(
        (line) => line.msg === 'request failed: the database or its disk is full' && line.level === 50,
      ).length,
    ).toBeGreaterThanOrEqual(1);
    const doctor = await educard(config, ['doctor', '--json']);
    const { checks } = JSON.parse(doctor.stdout) as { checks: { id: string }[] };
    expect(checks.find((c) => c.id === 'bridge')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/answers, but cannot store events since .* \(database or disk is full\)/),
    });
    // The page says so within its next look at /health (every 10 s), and what the gates do.
    await banner.waitFor({ timeout: 20_000 });
    expect(await banner.textContent()).toMatch(
      /since .*\(database or disk is full\)\. The gates keep deciding and keep their events/,
    );
    await screenshot(page, 'bridge-disk-full-banner');
    // She stays signed in and reads on: a request whose session touch cannot be stored (every
    // signed-in request moves the session's idle expiry on) keeps its session. A touch may still find
    // room now and then, so she reads until one did not.
    const untouched = () =>
      lines.some((line) => line.msg === "a session's idle expiry was not moved on: the store is full");
    await until(
      async () => {
        const answer = await page.evaluate(async () => {
          const response = await fetch('/v1/session');
          const body = (await response.json()) as { account?: { username?: string } };
          return [response.status, body.account?.username ?? ''];
        });
        expect(answer).toEqual([200, 'hana']);
        return untouched();
      },
      { what: 'a read whose session touch the full disk refused' },
    );
    // The gates send their batches again meanwhile: each fails alike, and only the first says so at
    // error, as does the checkpoint worker's first failure.
    await until(async () => (await health()).body.ingest.failed >= 2, {
      what: 'a batch sent again and failed again',
      timeoutMs: 30_000,
    });
    // A full disk can let a commit through now and then (a checkpoint frees room in the WAL file), so
    // failing comes in spells: each spell's first failure is said at error, and its end at info.
    const said = (msg: string, level: number) =>
      lines.filter((line) => line.msg === msg && line.level === level);
    const failed = said('batch not ingested', 50);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.every((line) => line.err?.code === 'SQLITE_FULL')).toBe(true);
    expect(failed.length - said('batches are stored again', 30).length).toBeGreaterThanOrEqual(0);
    expect(failed.length - said('batches are stored again', 30).length).toBeLessThanOrEqual(1);
    const fellBack = said('WAL checkpoints fall back to the committing thread', 50).length;
    expect(fellBack - said('WAL checkpoints work again on their thread', 30).length).toBeLessThanOrEqual(1);

    await rm(join(disk?.path as string, 'filler'));
    await until(() => allStored() && north.allStored(), {
      what: 'every tap of both gates stored once space is back',
      timeoutMs: 30_000,
    });
    expect(await health()).toMatchObject({ status: 200, body: { ok: true } });
    expect((await health()).body.storeFailure).toBeUndefined();
    await banner.waitFor({ state: 'detached', timeout: 20_000 });
    expect(lines.some((line) => line.msg === 'batches are stored again')).toBe(true);
    // The checkpoints that fell back to the committing thread are the worker's again.
    if (lines.some((line) => line.msg === 'WAL checkpoints fall back to the committing thread'))
      await until(() => lines.some((line) => line.msg === 'WAL checkpoints work again on their thread'), {
        what: "the checkpoint worker's recovery",
      });
  });
});
