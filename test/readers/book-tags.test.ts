import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CatalogueStore,
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  terminalCredential,
  trustedKeySets,
} from '@educard/gateway';
import { launchChromium, type Pcscd, startPcscd, until } from '@educard/scripts/support';
import { type CatalogueSnapshot, DEFAULT_LOAN_RULES, issueCatalogue } from '@educard/terminal-sdk';
import { type ItemPresented, type StationTap, TerminalClient } from '@educard/terminal-sdk/terminal-client';
import {
  sampleCard,
  sampleCpuCard,
  sampleEduApplet,
  sampleUid,
  TestAuthority,
} from '@educard/terminal-sdk/testing';
import { VirtualCard, type VirtualCardOptions, VPCD_PORT } from '@educard/terminal-sdk/virtual-card';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/pages.js';
import { exited, startNode } from '../support/processes.js';

// A library desk on real PC/SC: Debian's pcscd with vsmartcard's virtual reader, and a book's ISO
// 15693 tag held to the same reader as the patrons' cards. The tag is told from a card by the ATR the
// reader builds (PC/SC part 3), read by its UID, and reaches the desk's terminals as an item, which
// the desk's page handles as if its scanner had typed it. One pcscd per host: the 'pcsc' project runs
// this file alone.

const READER = 'Virtual PCD 00 00';
const SCHOOL = 'school-1';
const NOW = Date.parse('2026-11-23T10:00:00+08:00');
/** A tagged book: the catalogue's item id is its tag's UID, as the tag carries it (E0 first). */
const TAGGED = { itemId: 'E004010012345678', title: 'A Tagged Book' };
const OTHER_TAG = 'E00401008765432A';
const pupil = sampleCard(1, { zones: ['library'], schedules: [] });
const eduPupil = sampleCpuCard(2, { zones: ['library'], schedules: [] });

let pcscd: Pcscd;
let gateway: Gateway;
let dir: string;
let desk: TerminalClient;
let password: string;
const items: ItemPresented[] = [];
const taps: StationTap[] = [];

const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const tag = (itemId: string, extra: Partial<VirtualCardOptions> = {}): VirtualCardOptions => ({
  uid: bytes(itemId),
  tag: 'iso15693',
  ...extra,
});

const present = () => gateway.readers.readers().find((r) => r.name === READER)?.cardPresent ?? false;

/**
 * Holds a card or tag to the reader until `done` holds (what the test waits for), then takes it away
 * and waits until the gateway saw it go: vpcd has one slot per reader.
 */
async function hold(options: VirtualCardOptions, done: () => boolean, what: string) {
  const card = new VirtualCard({ ...options, port: VPCD_PORT });
  await card.presentCard();
  try {
    await until(done, { what: what });
    return { apdus: card.apdus };
  } finally {
    await card.removeCard();
    await until(() => !present(), { what: `${what}: the reader sees it gone`, timeoutMs: 5000 });
  }
}

beforeAll(async () => {
  pcscd = await startPcscd();
  dir = await mkdtemp(join(tmpdir(), 'book-tags-'));
  const logger = createLogger('book-tags', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' });
  // The roster and the catalogue, signed and stored as the bridge would have sent them.
  const authority = new TestAuthority(SCHOOL, { now: () => NOW });
  const rosterDir = join(dir, 'roster');
  await mkdir(rosterDir, { recursive: true });
  await RosterStore.writeAnchor(rosterDir, authority.anchor());
  const roster = await RosterStore.open({
    dir: rosterDir,
    school: SCHOOL,
    device: 'gw-desk-pcsc',
    logger,
    now: () => NOW,
  });
  await roster.acceptKeySet(authority.keySet());
  const issued = authority.snapshot(1, [pupil, eduPupil]);
  await roster.accept(issued.manifest, issued.body);
  const catalogue = await CatalogueStore.open({
    dir: join(dir, 'catalogue'),
    school: SCHOOL,
    logger,
    keySets: () => trustedKeySets(rosterDir),
    now: () => NOW,
  });
  const body: CatalogueSnapshot = {
    kind: 'catalogue',
    school: SCHOOL,
    version: 1,
    issuedAt: new Date(NOW - 86_400_000).toISOString(),
    rules: DEFAULT_LOAN_RULES,
    items: [TAGGED, { itemId: 'B1', title: 'A Barcoded Book' }],
  };
  const signed = issueCatalogue(body, {
    expiresAt: new Date(NOW + 30 * 86_400_000).toISOString(),
    keySetVersion: 1,
    signers: authority.rosterKeys,
  });
  await catalogue.accept(signed.manifest, signed.body);

  const credential = terminalCredential('desk-1', ['library-1']);
  password = credential.password;
  gateway = await Gateway.start({
    config: parseConfig({
      device: { id: 'gw-desk-pcsc', school: SCHOOL },
      dataDir: dir,
      station: { type: 'library', id: 'library-1', zone: 'library', debounceMs: 0 },
      readers: {
        driver: 'pcsc',
        pcsc: { exchangeTimeoutMs: 1000, recoveryMs: 500 },
        bindings: [{ pattern: '00 00$', direction: 'in' }],
      },
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, terminals: [credential.entry] },
      pages: { host: '127.0.0.1', port: 0 },
    }),
    logger,
    now: () => NOW,
    synced: () => true,
  });
  desk = await TerminalClient.connect({
    url: `mqtt://127.0.0.1:${gateway.terminalPorts.tcp}`,
    terminal: 'desk-1',
    password,
    station: 'library-1',
  });
  desk.onItem((item) => items.push(item));
  desk.onTap((tap) => taps.push(tap));
  await until(() => gateway.readers.readers().some((r) => r.name === READER && r.connected), {
    what: `${READER} is up`,
  });
}, 60_000);

afterAll(async () => {
  await desk?.close();
  await gateway?.stop();
  await pcscd?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('ISO 15693 book tags at a library desk on PC/SC', () => {
  it('reports a tag held to the reader as an item, its UID the item id, after one GET DATA and no tap', async () => {
    const held = await hold(tag(TAGGED.itemId), () => items.length === 1, 'the item at the desk');
    expect(items[0]).toEqual({
      v: 1,
      station: 'library-1',
      reader: READER,
      itemId: TAGGED.itemId,
      at: new Date(NOW).toISOString(),
    });
    expect(held.apdus).toBe(1);
    // A reader that gives the UID least significant byte first: the same item.
    await hold(tag(OTHER_TAG, { uidLsbFirst: true }), () => items.length === 2, 'the second item');
    expect(items[1]?.itemId).toBe(OTHER_TAG);
    expect(taps).toEqual([]);
    expect(gateway.report().lastTaps).toEqual([]);
  });

  it('still takes an EDU card and a UID card on the same reader as taps that show the patron', async () => {
    const seen = items.length;
    await hold(
      { uid: bytes(sampleUid(2)), edu: sampleEduApplet(2) },
      () => taps.length === 1,
      'the EDU card tap',
    );
    expect(taps[0]).toMatchObject({
      station: 'library-1',
      reader: READER,
      decision: 'grant',
      patron: { personId: eduPupil.personId, displayName: eduPupil.displayName },
    });
    await hold({ uid: bytes(sampleUid(1)) }, () => taps.length === 2, 'the UID card tap');
    expect(taps[1]).toMatchObject({ decision: 'grant', patron: { personId: pupil.personId } });
    expect(items).toHaveLength(seen);
  });

  it('lets a technician hold a virtual tag from the command line', async () => {
    const cli = 'scripts/dist/virtual-card/index.js';
    const bad = startNode(cli, ['--tag', '--uid', '0102030405', '--hold', '1']);
    expect(await exited(bad.process)).toBe(2);
    expect(bad.stderr()).toMatch(/--uid must be 8 bytes of hex/);
    const seen = items.length;
    const run = startNode(cli, ['--tag', '--uid', TAGGED.itemId, '--reader', '0', '--hold', '1.5', '--json']);
    await until(() => items.length === seen + 1, { what: 'the item from the command line' });
    expect(items.at(-1)?.itemId).toBe(TAGGED.itemId);
    expect(await exited(run.process)).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ tag: 'iso15693', itemId: TAGGED.itemId, apdusAnswered: 1 });
    await until(() => !present(), { what: 'the reader sees the tag gone', timeoutMs: 5000 });
  });

  describe('with the desk page in Chromium', () => {
    let browser: Browser;
    afterAll(async () => {
      await browser?.close();
    });

    it('checks out the book whose tag is held after a patron tapped, and takes it back in return mode', {
      timeout: 60_000,
    }, async () => {
      browser = await launchChromium();
      const page = await browser.newPage({ locale: 'en-US' });
      await page.goto(
        `${gateway.terminalPorts.pages}/desk.html?lang=en#terminal=desk-1&password=${password}&station=library-1`,
      );
      await expect.poll(() => page.getByTestId('link').textContent()).toContain('connected');
      const outcome = async () => ({
        kind: await page.getByTestId('outcome').getAttribute('data-kind'),
        text: await page.getByTestId('outcome').textContent(),
      });

      const tapped = taps.length;
      await hold({ uid: bytes(sampleUid(1)) }, () => taps.length === tapped + 1, 'the patron tap');
      await expect.poll(() => page.getByTestId('patron-name').textContent()).toBe(pupil.displayName);
      expect(await page.getByTestId('loan-count').textContent()).toMatch(/^Loans: 0/);

      let seen = items.length;
      await hold(tag(TAGGED.itemId), () => items.length === seen + 1, 'the tag at the page');
      await expect
        .poll(outcome)
        .toEqual({ kind: 'ok', text: expect.stringContaining(`Checked out: ${TAGGED.title}`) });
      await expect.poll(() => page.getByTestId('loan-count').textContent()).toMatch(/^Loans: 1/);
      await screenshot(page, 'desk-book-tag-checked-out');

      await page.keyboard.press('F2');
      seen = items.length;
      await hold(tag(TAGGED.itemId), () => items.length === seen + 1, 'the tag again, in return mode');
      await expect
        .poll(outcome)
        .toEqual({ kind: 'ok', text: expect.stringContaining(`Returned: ${TAGGED.title}`) });
    });
  });
});
