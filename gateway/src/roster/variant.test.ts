import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { CardEntry, RosterVariant } from '@educard/terminal-sdk';
import { SAMPLE_MONDAY, sampleCard, sampleCpuCard, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { expectRejected } from './fixture.js';
import { RosterStore } from './index.js';

let dir: string;
let lines: string[];
const authority = new TestAuthority('school-1', { now: () => SAMPLE_MONDAY });
const CARDS: CardEntry[] = [sampleCard(1), sampleCpuCard(2), sampleCard(3), sampleCpuCard(4)];
const ADDED = sampleCard(5, { displayName: '李小红' });

async function station(variant: RosterVariant) {
  await RosterStore.writeAnchor(dir, authority.anchor());
  const logger = createLogger('variant-test', {
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  const open = () =>
    RosterStore.open({
      dir,
      school: 'school-1',
      device: 'gate-01',
      variant,
      logger,
      now: () => SAMPLE_MONDAY,
    });
  const store = await open();
  await store.acceptKeySet(authority.keySet());
  return { store, open };
}

/** A snapshot, then a delta that adds a card, moves a UID and reports one lost: a school's first week. */
async function enrolAndUpdate(store: RosterStore, variant: RosterVariant) {
  const v1 = authority.snapshot(1, CARDS, { variant });
  await store.accept(v1.manifest, v1.body);
  const d2 = authority.delta(
    1,
    2,
    [
      { op: 'add', card: ADDED },
      { op: 'update', card: sampleCard(3, { credential: { kind: 'uid', uid: 'A1B2C3D4' } }) },
      { op: 'revoke', cardId: sampleCard(1).cardId, status: 'lost' },
    ],
    { variant },
  );
  await store.accept(d2.manifest, d2.body);
}

/** Every file under the roster directory, as text. */
async function filesOf(root: string): Promise<string> {
  const names = await readdir(root, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    names
      .filter((entry) => entry.isFile())
      .map((entry) => readFile(join(entry.parentPath, entry.name), 'utf8')),
  );
  return texts.join('\n');
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-variant-'));
  lines = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('roster variants per station type', () => {
  it('leaves no pupil name and no card UID in clear on a gate, and finds each card by the UID its reader reads', async () => {
    const { store, open } = await station('gate');
    await enrolAndUpdate(store, 'gate');
    const onDisk = await filesOf(dir);
    const uids = [...CARDS, ADDED].map((card) => card.credential.uid as string).concat('A1B2C3D4');
    for (const card of [...CARDS, ADDED]) expect(onDisk).not.toContain(card.displayName as string);
    for (const uid of uids) expect(onDisk.toUpperCase()).not.toContain(uid);
    expect(onDisk).toContain(sampleCard(2).cardId);

    for (const view of [store.view, (await open()).view]) {
      expect(view?.version).toBe(2);
      expect(view?.byUid(sampleCpuCard(2).credential.uid as string)?.cardId).toBe(sampleCpuCard(2).cardId);
      expect(view?.byUid('A1B2C3D4')?.cardId).toBe(sampleCard(3).cardId);
      expect(view?.byUid(sampleCard(3).credential.uid as string)).toBeUndefined();
      expect(view?.byUid(ADDED.credential.uid as string)?.cardId).toBe(ADDED.cardId);
      expect(view?.byCardId(sampleCard(1).cardId)?.status).toBe('lost');
      const held = view?.byCardId(ADDED.cardId);
      expect(held?.displayName).toBeUndefined();
      expect(held?.grade).toBeUndefined();
      expect(held?.zones).toEqual(ADDED.zones);
    }
  });

  it('gives a desk the names it shows', async () => {
    const { store } = await station('desk');
    await enrolAndUpdate(store, 'desk');
    expect(store.view?.byCardId(ADDED.cardId)).toEqual(ADDED);
    expect(store.view?.byUid('A1B2C3D4')?.displayName).toBe(sampleCard(3).displayName);
    expect(await filesOf(dir)).toContain(sampleCard(4).displayName as string);
  });

  it('refuses at a gate the desk roster, with its reason and a log line, and keeps the roster in force', async () => {
    const { store } = await station('gate');
    const gate = authority.snapshot(1, CARDS, { variant: 'gate' });
    await store.accept(gate.manifest, gate.body);
    const desk = authority.snapshot(2, CARDS, { variant: 'desk' });
    await expectRejected(store.accept(desk.manifest, desk.body), 'wrong-variant');
    expect(store.view?.version).toBe(1);
    const refused = lines
      .map((line) => JSON.parse(line))
      .find((line) => line.msg === 'roster update rejected');
    expect(refused).toMatchObject({ code: 'wrong-variant' });
    expect(refused.reason).toContain('desk roster');
    expect(await filesOf(dir)).not.toContain(sampleCard(1).displayName as string);
  });

  it('takes, from a bridge that issues no variants, the whole roster, as before', async () => {
    const { store } = await station('gate');
    const whole = authority.snapshot(1, CARDS);
    expect(await store.accept(whole.manifest, whole.body)).toMatchObject({ status: 'applied', version: 1 });
    expect(store.view?.byUid(sampleCard(1).credential.uid as string)?.cardId).toBe(sampleCard(1).cardId);
  });
});
