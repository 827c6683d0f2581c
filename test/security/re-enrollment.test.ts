import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Mosquitto, startMosquitto } from '@educard/scripts/support';
import { type EventAck, type EventBatch, topics } from '@educard/terminal-sdk';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { educard } from '../support/cli.js';
import { IdentityRig, SET_UP_MS, START_MS, status, tap } from './identity-harness.js';

/**
 * Enrollment abuse and replays across re-enrollment (issue 14, defects 2 and 3), every part a real
 * process: `educard-bridge serve`, the gateway service, and each CLI step a technician runs. Then a
 * gateway on an external broker where anyone may publish, fed forged acks.
 */

let dir: string;
let rig: IdentityRig;

interface Listed {
  epoch: number;
  record: { seq: number; type: string; data: { cardId?: string } };
}

async function gateEvents(device: string): Promise<Listed[]> {
  const { body } = await rig.api('GET', `/v1/events?device=${device}&type=gate.decision&limit=1000`);
  return body.events as Listed[];
}

const backlog = async (config: string) => (await status(config)).journal.backlog;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 're-enrollment-'));
  rig = await IdentityRig.start(dir);
}, SET_UP_MS);
afterAll(async () => {
  await rig?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('enrollment abuse and the documented re-enrollment path', () => {
  const config = () => join(dir, 'gate-02', 'gateway.json');

  it('refuses a spare token of the school for a live device, and a bound token for another id', {
    timeout: 240_000,
  }, async () => {
    await rig.provision(config(), 'gate-02');
    await rig.enroll(config(), 'gate-02');
    const service = rig.startService(config());
    await service.waitFor((line) => line.msg === 'uplink connected', START_MS);
    tap(service, 'AA000001');
    await expect.poll(async () => (await gateEvents('gate-02')).length, { timeout: 15_000 }).toBe(1);
    const before = (await rig.api('GET', '/v1/devices?school=school-1')).body.devices as {
      id: string;
      publicKey: string;
    }[];

    // The reproduction: a fresh school token and the live gate's id.
    const spare = await rig.token();
    const takeover = await rig.enrollAs(spare, 'gate-02');
    expect(takeover.status).toBe(409);
    expect(String(takeover.body.message)).toMatch(/enrolled and not revoked.*revoke it first/);
    // Nothing changed: the same key, and the real gate keeps delivering.
    expect((await rig.api('GET', '/v1/devices?school=school-1')).body.devices).toEqual(before);
    tap(service, 'AA000002');
    await expect.poll(async () => (await gateEvents('gate-02')).length, { timeout: 15_000 }).toBe(2);
    // The refusal did not use the token up: it still enrolls an id that is free.
    expect((await rig.enrollAs(spare, 'gate-50')).status).toBe(200);

    // A token bound to one device enrolls that id and no other.
    const bound = await rig.token('school-1', 'gate-03');
    const misused = await rig.enrollAs(bound, 'gate-04');
    expect(misused.status).toBe(403);
    expect(String(misused.body.message)).toContain('made for device gate-03');
    expect((await rig.enrollAs(bound, 'gate-03')).status).toBe(200);
    // And the gateway's own command says what to do when its id is live.
    const again = await educard(config(), ['enroll', '--bridge', rig.http, '--token', await rig.token()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('educard-bridge devices revoke gate-02');

    await expect.poll(() => backlog(config()), { timeout: 15_000 }).toBe(0);
    await rig.stopService(service);
  });

  it('delivers the taps of a device revoked, reset, set up and enrolled again: a new epoch, the old one kept', {
    timeout: 240_000,
  }, async () => {
    const revoked = await rig.cli('devices', 'revoke', 'gate-02', '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    const reset = await educard(config(), ['factory-reset', '--yes']);
    expect(reset.code, reset.stderr).toBe(0);
    await rig.provision(config(), 'gate-02', { force: true });
    await rig.enroll(config(), 'gate-02');

    const service = rig.startService(config());
    await service.waitFor((line) => line.msg === 'uplink connected', START_MS);
    for (const uid of ['BB000001', 'BB000002', 'BB000003']) tap(service, uid);
    await expect.poll(async () => (await gateEvents('gate-02')).length, { timeout: 20_000 }).toBe(5);
    const events = await gateEvents('gate-02');
    expect(events.filter((e) => e.epoch === 1)).toHaveLength(2);
    const fresh = events.filter((e) => e.epoch === 2);
    expect(fresh).toHaveLength(3);
    // The new chain starts again at seq 1, beside the old one, whole.
    const { body: all } = await rig.api('GET', '/v1/events?device=gate-02&limit=1000');
    const seqs = (all.events as Listed[]).filter((e) => e.epoch === 2).map((e) => e.record.seq);
    expect(seqs).toEqual(seqs.map((_seq, index) => index + 1));
    // Every event of the new journal reached the bridge and was acknowledged for what it is.
    await expect.poll(() => backlog(config()), { timeout: 15_000 }).toBe(0);
    const { body } = await rig.api('GET', '/v1/devices?school=school-1');
    expect((body.devices as { id: string; epoch: number }[]).find((d) => d.id === 'gate-02')?.epoch).toBe(2);
    const health = (await (await fetch(`${rig.http}/health`)).json()) as {
      ingest: { rejected: number };
    };
    expect(health.ingest.rejected).toBe(0);
    await rig.stopService(service);
  });
});

describe('a gateway on a broker where anyone may publish', () => {
  let mosquitto: Mosquitto;
  beforeAll(async () => {
    mosquitto = await startMosquitto(dir);
  }, SET_UP_MS);
  afterAll(async () => {
    await mosquitto?.stop();
  });

  it('trusts no ack whose seq and hash are not in its own journal', { timeout: 240_000 }, async () => {
    const config = join(dir, 'gate-09.json');
    await writeFile(
      config,
      JSON.stringify({
        device: { id: 'gate-09', school: 'school-1' },
        dataDir: join(dir, 'gate-09'),
        station: { id: 'gate-09', zone: 'main-gate', debounceMs: 0 },
        readers: { driver: 'simulated', simulated: ['sim-in'], script: '-' },
        io: { plugin: 'recording' },
        uplink: { url: mosquitto.url, bridgeHttp: 'http://127.0.0.1:9', username: 'gate-09', password: 'x' },
      }),
    );
    const attacker = await mqtt.connectAsync(mosquitto.url, { clientId: 'attacker', reconnectPeriod: 0 });
    // What the attacker sees of the journal, by seq: nobody acks here, so batches come again.
    const seen = new Map<number, EventBatch['records'][number]>();
    attacker.on('message', (_topic, payload) => {
      for (const record of (JSON.parse(payload.toString()) as EventBatch).records)
        seen.set(record.seq, record);
    });
    await attacker.subscribeAsync(topics.events('school-1', 'gate-09'), { qos: 1 });

    const service = rig.startService(config);
    await service.waitFor((line) => line.msg === 'uplink connected', START_MS);
    for (const uid of ['CC000001', 'CC000002', 'CC000003']) tap(service, uid);
    await expect
      .poll(() => [...seen.values()].filter((r) => r.type === 'gate.decision').length, { timeout: 15_000 })
      .toBe(3);
    const records = [...seen.values()].sort((a, b) => a.seq - b.seq);
    const last = records.at(-1) as (typeof records)[number];
    const held = await backlog(config);
    expect(held).toBe(last.seq);

    const ack = (fields: Partial<EventAck>): string =>
      JSON.stringify({
        v: 1,
        device: 'gate-09',
        seq: last.seq,
        hash: last.hash,
        at: new Date().toISOString(),
        ...fields,
      });
    const forged = [
      ack({ hash: 'f'.repeat(64) }), // another chain's record at this seq (the old epoch's retained ack)
      ack({ seq: last.seq + 500 }), // beyond the journal: the old bridge's cursor
      ack({ device: 'gate-10' }), // another device's
    ];
    for (const message of forged)
      await attacker.publishAsync(topics.ack('school-1', 'gate-09'), message, { qos: 1, retain: true });
    await service.waitFor(
      (line) =>
        line.msg ===
          "ack refused: it is not for a record of this device's journal (another enrollment's, or forged)" &&
        String(line.reason).includes('gate-10'),
    );
    const now = await status(config);
    expect(now.uplink.refusedAcks).toBe(3);
    expect(now.journal.backlog).toBe(held);

    // An ack that names a record of this journal is taken.
    const second = records[1] as (typeof records)[number];
    await attacker.publishAsync(
      topics.ack('school-1', 'gate-09'),
      ack({ seq: second.seq, hash: second.hash }),
      {
        qos: 1,
      },
    );
    await expect.poll(() => backlog(config), { timeout: 10_000 }).toBe(held - second.seq);
    await attacker.endAsync();
    await rig.stopService(service);
  });
});
