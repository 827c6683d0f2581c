import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HotlistSnapshotMessage, RosterSnapshotMessage, sha256Hex, topics } from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityRig, SET_UP_MS, START_MS, status } from './identity-harness.js';

/**
 * Who may read a school's roster (issue 14, defect 4): its snapshot body holds every card with name,
 * class and UID, and answered anyone. Against `educard-bridge serve` as a child process: a stranger,
 * the admin token, a device of another school, a device of the school, and a gateway service that
 * fetches the body the way gateways of the previous version do (the URL as published).
 */

let dir: string;
let rig: IdentityRig;
const clients: MqttClient[] = [];

// Cards valid from yesterday for a year, by this test's clock (the real one).
const validity = () => ({
  validFrom: new Date(Date.now() - 86_400_000).toISOString(),
  validUntil: new Date(Date.now() + 365 * 86_400_000).toISOString(),
});

async function importRoster(school: string, names: string[]) {
  const cards = names.map((displayName, index) =>
    sampleCard(index + 1 + (school === 'school-2' ? 100 : 0), { ...validity(), displayName }, school),
  );
  const imported = await rig.api('POST', `/v1/roster/${school}/import`, { cards });
  expect(imported.status, imported.text).toBe(200);
}

/** A device of `school`, enrolled, on the broker with its own credentials. */
async function device(id: string, school: string): Promise<MqttClient> {
  const client = await rig.deviceOnBroker(id, school);
  clients.push(client);
  return client;
}

/** The retained snapshot message a device of the school gets when it subscribes. */
async function snapshotMessage(client: MqttClient, school: string): Promise<RosterSnapshotMessage> {
  const message = new Promise<RosterSnapshotMessage>((resolve) =>
    client.on('message', (topic, payload) => {
      if (topic === topics.rosterSnapshot(school))
        resolve(RosterSnapshotMessage.parse(JSON.parse(String(payload))));
    }),
  );
  await client.subscribeAsync(topics.rosterSnapshot(school), { qos: 1 });
  return message;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-access-'));
  rig = await IdentityRig.start(dir);
  await importRoster('school-1', ['Wang Wei', 'Li Fang']);
  await importRoster('school-2', ['Zhang Min']);
}, SET_UP_MS);
afterAll(async () => {
  for (const client of clients.splice(0)) await client.endAsync(true);
  await rig?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('roster and catalogue bodies', () => {
  it('are served to no stranger, with or without a made-up grant, nor to the admin token', async () => {
    for (const path of [
      '/v1/roster/school-1/snapshots/1',
      '/v1/roster/school-1/gate/snapshots/1',
      '/v1/roster/school-2/snapshots/1',
      '/v1/catalogue/school-1/snapshots/1',
      `/v1/roster/school-1/snapshots/1?grant=${Math.floor(Date.now() / 1000) + 3600}.${'A'.repeat(43)}`,
      '/v1/roster/school-1/snapshots/1?grant=x',
      `/v1/roster/school-1/gate/snapshots/1?grant=${Math.floor(Date.now() / 1000) + 3600}.${'A'.repeat(43)}`,
    ]) {
      for (const anonymous of [true, false]) {
        const answer = await rig.api('GET', path, undefined, anonymous);
        expect(answer.status, path).toBe(401);
        expect(answer.text).not.toMatch(/Wang Wei|Zhang Min|"cards"/);
      }
    }
  });

  it('are served to a device of the school through the URL published to it, and that body only', async () => {
    const gate = await device('gate-r1', 'school-1');
    const message = await snapshotMessage(gate, 'school-1');
    expect(message.url).toMatch(/^\/v1\/roster\/school-1\/snapshots\/1\?grant=/);
    const fetched = await fetch(`${rig.http}${message.url}`);
    expect(fetched.status).toBe(200);
    const bytes = new Uint8Array(await fetched.arrayBuffer());
    const signed = message.manifest.signed as { body: { sha256: string } };
    expect(sha256Hex(bytes)).toBe(signed.body.sha256);
    expect(Buffer.from(bytes).toString()).toContain('Wang Wei');
    // The grant names this school's snapshot 1: not another school's, not another version.
    const grant = message.url.slice(message.url.indexOf('?'));
    for (const other of ['/v1/roster/school-2/snapshots/1', '/v1/roster/school-1/snapshots/2'])
      expect((await fetch(`${rig.http}${other}${grant}`)).status, other).toBe(401);
    // And another school's retained message is not this device's to read.
    await expect(gate.subscribeAsync(topics.rosterSnapshot('school-2'), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    // The grant never reaches the bridge's log whole.
    const logged = rig.bridge.child.lines.filter((line) => JSON.stringify(line).includes('grant='));
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).not.toContain(grant.slice('?grant='.length));
  });

  it("serve the district hotlist's snapshot body, too, only through the URL published to the devices", async () => {
    const gate = await device('gate-h1', 'school-1');
    const message = new Promise<HotlistSnapshotMessage>((resolve) =>
      gate.on('message', (topic, payload) => {
        if (topic === topics.hotlistSnapshot())
          resolve(HotlistSnapshotMessage.parse(JSON.parse(String(payload))));
      }),
    );
    await gate.subscribeAsync(topics.hotlistSnapshot(), { qos: 1 });
    const { url, manifest } = await message;
    const version = (manifest.signed as { version: number }).version;
    expect(url).toMatch(new RegExp(`^/v1/hotlist/snapshots/${version}\\?grant=`));
    const fetched = await fetch(`${rig.http}${url}`);
    expect(fetched.status).toBe(200);
    const bytes = new Uint8Array(await fetched.arrayBuffer());
    expect(sha256Hex(bytes)).toBe((manifest.signed as { body: { sha256: string } }).body.sha256);
    // Without the grant, with a school's roster grant or for another version: nothing.
    const roster = await snapshotMessage(gate, 'school-1');
    const grant = url.slice(url.indexOf('?'));
    for (const path of [
      `/v1/hotlist/snapshots/${version}`,
      `/v1/hotlist/snapshots/${version}${roster.url.slice(roster.url.indexOf('?'))}`,
      `/v1/hotlist/snapshots/${version + 1}${grant}`,
    ]) {
      const answer = await rig.api('GET', path, undefined, true);
      expect(answer.status, path).toBe(401);
    }
  });

  it('reach a gateway that fetches them as gateways of the previous version do: the URL as published', {
    timeout: 240_000,
  }, async () => {
    const config = join(dir, 'gate-r2', 'gateway.json');
    await rig.provision(config, 'gate-r2');
    await rig.enroll(config, 'gate-r2');
    const service = rig.startService(config);
    await service.waitFor((line) => line.msg === 'roster applied', START_MS);
    expect((await status(config)).roster).toMatchObject({ version: 1, cards: 2 });
    await rig.stopService(service);
  });
});
