import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RosterStore } from '@educard/gateway';
import { type Mosquitto, startMosquitto } from '@educard/scripts/support';
import {
  type CommandResult,
  type CommandToSign,
  type Ed25519KeyPair,
  type EventBatch,
  generateKeyPair,
  signCommand,
  topics,
} from '@educard/terminal-sdk';
import { sampleCard, TestAuthority } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, exited, startNode } from '../support/processes.js';
import { IdentityRig, SET_UP_MS, START_MS, status } from './identity-harness.js';

/**
 * Signed commands (issue 14, item 9): with an external broker anyone who may publish on a device's
 * command topic could open its door. A gateway service (a real process) on Mosquitto with anonymous
 * access, attacked by a client there; then the whole path through `educard-bridge serve`: the
 * bridge signs with the command key its key set names, the device runs it, and after a key rotation
 * the new key is trusted and the retired one not.
 */

const dir = mkdtempSync(join(tmpdir(), 'commands-'));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a gateway on a broker where anyone may publish', () => {
  let mosquitto: Mosquitto;
  let attacker: MqttClient;
  const services: Child[] = [];
  const authority = new TestAuthority('school-1', { commands: [generateKeyPair()] });
  const results: CommandResult[] = [];
  const records: EventBatch['records'] = [];

  beforeAll(async () => {
    mosquitto = await startMosquitto(dir);
    attacker = await mqtt.connectAsync(mosquitto.url, { clientId: 'attacker', reconnectPeriod: 0 });
    attacker.on('message', (topic, payload) => {
      const message = JSON.parse(String(payload));
      if (topic === topics.results('school-1', 'gate-c1')) results.push(message as CommandResult);
      else records.push(...(message as EventBatch).records);
    });
    await attacker.subscribeAsync(
      [topics.results('school-1', 'gate-c1'), topics.events('school-1', 'gate-c1')],
      { qos: 1 },
    );
  }, SET_UP_MS);
  afterAll(async () => {
    for (const service of services) {
      service.process.kill('SIGTERM');
      await exited(service.process);
    }
    await attacker?.endAsync();
    await mosquitto?.stop();
  });

  const config = join(dir, 'gate-c1.json');
  const dataDir = join(dir, 'gate-c1');
  let sent = 0;

  /** The door.remote-open records the gateway journaled (batches come again while nobody acks them). */
  const remoteOpens = () =>
    new Set(records.filter((r) => r.type === 'door.remote-open').map((r) => r.seq)).size;

  /** Publishes a command as the attacker and waits for the gateway's answer to it. */
  async function command(message: Record<string, unknown>): Promise<CommandResult> {
    sent += 1;
    await attacker.publishAsync(topics.commands('school-1', 'gate-c1'), JSON.stringify(message), { qos: 1 });
    await expect.poll(() => results.length, { timeout: 15_000 }).toBe(sent);
    return results.at(-1) as CommandResult;
  }

  const door = (fields: Partial<CommandToSign> = {}, keys?: Ed25519KeyPair[]) => {
    const body = {
      v: 1,
      id: `c-${Math.random().toString(36).slice(2)}`,
      name: 'door.open',
      args: { seconds: 1 },
      device: 'gate-c1',
      school: 'school-1',
      issuedAt: new Date(Date.now() - 1000).toISOString(),
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      ...fields,
    } as CommandToSign;
    return keys ? signCommand(body, keys) : body;
  };

  async function startGateway(): Promise<Child> {
    const service = startNode('gateway/dist/main.js', ['--config', config], {
      nodeFlags: ['--max-semi-space-size=2'],
    });
    services.push(service);
    await service.waitFor((line) => line.msg === 'uplink connected', START_MS);
    return service;
  }

  it('runs only what the command key of its key set signed, for it, in time, once', {
    timeout: 240_000,
  }, async () => {
    await writeFile(
      config,
      JSON.stringify({
        device: { id: 'gate-c1', school: 'school-1' },
        dataDir,
        station: { id: 'gate-c1', zone: 'main-gate', debounceMs: 0 },
        readers: { driver: 'simulated', simulated: ['sim-in'] },
        io: { plugin: 'recording' },
        uplink: { url: mosquitto.url, bridgeHttp: 'http://127.0.0.1:9', username: 'gate-c1', password: 'x' },
      }),
    );
    await RosterStore.writeAnchor(join(dataDir, 'roster'), authority.anchor());
    let service = await startGateway();
    const keySetOne = JSON.parse(String(Buffer.from(authority.keySet())));
    await attacker.publishAsync(
      topics.rosterKeySets('school-1'),
      JSON.stringify({ v: 1, keySets: [keySetOne] }),
      {
        qos: 1,
        retain: true,
      },
    );
    await service.waitFor((line) => line.msg === 'roster key set accepted');
    const commandKeys = authority.commandKeys as Ed25519KeyPair[];

    const refused = [
      [door(), /refused: the command is not signed/],
      [door({}, [generateKeyPair()]), /refused: the command has 0 valid signature/],
      [door({ device: 'gate-c2' }, commandKeys), /refused: the command is for school-1\/gate-c2/],
      [door({ school: 'school-2' }, commandKeys), /refused: the command is for school-2\/gate-c1/],
      [
        door({ expiresAt: new Date(Date.now() + 2 * 3_600_000).toISOString() }, commandKeys),
        /refused: the command lives longer than an hour/,
      ],
    ] as const;
    for (const [message, reason] of refused)
      expect(await command(message as Record<string, unknown>)).toMatchObject({
        status: 'error',
        error: expect.stringMatching(reason),
      });
    expect(
      await command(
        door(
          {
            issuedAt: new Date(Date.now() - 60_000).toISOString(),
            expiresAt: new Date(Date.now() - 1000).toISOString(),
          },
          commandKeys,
        ),
      ),
    ).toMatchObject({
      status: 'expired',
    });

    const genuine = door({}, commandKeys);
    expect(await command(genuine)).toMatchObject({ id: genuine.id, status: 'ok' });
    await expect.poll(remoteOpens, { timeout: 10_000 }).toBe(1);
    // The same message again, captured on the broker: refused, even after the gateway restarts.
    expect(await command(genuine)).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/a replay/),
    });
    service.process.kill('SIGTERM');
    expect(await exited(service.process)).toBe(0);
    services.splice(services.indexOf(service), 1);
    // Planted retained, so the gateway gets it the moment it subscribes after its restart.
    const commandTopic = topics.commands('school-1', 'gate-c1');
    await attacker.publishAsync(commandTopic, JSON.stringify(genuine), { qos: 1, retain: true });
    sent += 1;
    service = await startGateway();
    await expect.poll(() => results.length, { timeout: 15_000 }).toBe(sent);
    expect(results.at(-1)).toMatchObject({ status: 'error', error: expect.stringMatching(/a replay/) });
    await attacker.publishAsync(commandTopic, '', { qos: 1, retain: true });

    // The command key rotates N to N+1: the new key is trusted, the retired one no longer.
    const retired = commandKeys;
    const next = authority.rotateCommandKey();
    await attacker.publishAsync(
      topics.rosterKeySets('school-1'),
      JSON.stringify({ v: 1, keySets: [keySetOne, JSON.parse(String(Buffer.from(next)))] }),
      { qos: 1, retain: true },
    );
    await service.waitFor((line) => line.msg === 'roster key set accepted' && line.version === 2);
    expect(await command(door({}, retired))).toMatchObject({ status: 'error' });
    expect(await command(door({}, authority.commandKeys as Ed25519KeyPair[]))).toMatchObject({
      status: 'ok',
    });
    await expect.poll(remoteOpens, { timeout: 10_000 }).toBe(2);
    // Counted since the restart: the planted replay and the retired key's command.
    expect((await status(config)).uplink.refusedCommands).toBe(2);
  });
});

describe('commands through the bridge', () => {
  let rig: IdentityRig;
  beforeAll(async () => {
    rig = await IdentityRig.start(join(dir, 'through-bridge'));
  }, SET_UP_MS);
  afterAll(async () => {
    await rig?.stop();
  });

  async function storedRemoteOpens(): Promise<{ data: { command: string } }[]> {
    const { body } = await rig.api('GET', '/v1/events?device=gate-c3&type=door.remote-open');
    return (body.events as { record: { data: { command: string } } }[]).map((e) => e.record);
  }

  it('signs with the command key the device trusts through its key set, before and after a rotation', {
    timeout: 240_000,
  }, async () => {
    // A roster, so that a key rotation re-issues it and the new key set reaches the school's gates.
    const card = sampleCard(1, {
      validFrom: new Date(Date.now() - 86_400_000).toISOString(),
      validUntil: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    });
    expect((await rig.api('POST', '/v1/roster/school-1/import', { cards: [card] })).status).toBe(200);
    const config = join(rig.dir, 'gate-c3', 'gateway.json');
    await rig.provision(config, 'gate-c3');
    await rig.enroll(config, 'gate-c3');
    const service = rig.startService(config);
    await service.waitFor((line) => line.msg === 'roster applied', START_MS);

    const bad = await rig.api('POST', '/v1/devices/gate-c3/commands', {
      name: 'door.open',
      args: { seconds: 0 },
    });
    expect(bad.status).toBe(400);
    expect((await rig.api('POST', '/v1/devices/nobody/commands', { name: 'status.report' })).status).toBe(
      404,
    );
    const first = await rig.api('POST', '/v1/devices/gate-c3/commands', {
      name: 'door.open',
      args: { seconds: 1 },
    });
    expect(first.status, first.text).toBe(202);
    await expect
      .poll(async () => (await storedRemoteOpens()).map((r) => r.data.command), { timeout: 20_000 })
      .toEqual([first.body.id]);

    const rotated = await rig.cli('keys', 'rotate', '--root-key', rig.rootKey, '--json');
    expect(rotated.code, rotated.stderr).toBe(0);
    await service.waitFor((line) => line.msg === 'roster key set accepted' && line.version === 2, 30_000);
    const second = await rig.api('POST', '/v1/devices/gate-c3/commands', {
      name: 'door.open',
      args: { seconds: 1 },
    });
    expect(second.status).toBe(202);
    await expect.poll(async () => (await storedRemoteOpens()).length, { timeout: 20_000 }).toBe(2);
    expect((await status(config)).uplink.refusedCommands).toBe(0);
    await rig.stopService(service);
  });
});
