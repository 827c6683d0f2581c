import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@educard/scripts/support';
import {
  countValidSignatures,
  EnrollmentResponse,
  enrollmentTokenHash,
  fromBase64Url,
  generateKeyPair,
  RosterKeySet,
  toBase64Url,
} from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeCli, initBridge, serveBridge } from '../support/cli.js';
import { exited } from '../support/processes.js';
import { ROSTER_CSV_HEADER, rosterCsvRow } from '../support/roster-csv.js';

let dir: string;
let config: string;
let bridge: Awaited<ReturnType<typeof serveBridge>>;

/** The CLI against the bridge this file runs, found through its config as a technician would. */
const cli = (...args: string[]) => bridgeCli([...args, '--config', config]);

async function enroll(token: string, deviceId: string) {
  const key = generateKeyPair();
  const response = await fetch(`${bridge.http}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, deviceId, publicKey: toBase64Url(key.publicKey) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-admin-'));
  ({ config } = await initBridge(dir));
  bridge = await serveBridge(config);
});
afterAll(async () => {
  bridge?.child.process.kill('SIGTERM');
  if (bridge) expect(await exited(bridge.child.process)).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

describe('educard-bridge tokens', () => {
  it('makes one-time tokens: the enrollment answer is signed, a token used twice is refused', async () => {
    const run = await cli('tokens', 'create', '--school', 'school-1', '--count', '2', '--json');
    expect(run.code, run.stderr).toBe(0);
    const { tokens, school } = run.json<{ tokens: string[]; school: string }>();
    expect(school).toBe('school-1');
    expect(tokens).toHaveLength(2);

    const first = await enroll(tokens[0] as string, 'gate-t1');
    expect(first.status).toBe(200);
    const answer = EnrollmentResponse.parse(first.body);
    expect(answer.proof.signed).toMatchObject({
      type: 'enrollment',
      device: 'gate-t1',
      school: 'school-1',
      tokenSha256: enrollmentTokenHash(tokens[0] as string),
      username: 'gate-t1',
      mqttUrl: answer.mqtt.url,
    });
    // Signed by the roster key the latest key set names.
    const keySet = RosterKeySet.parse(answer.keySets.at(-1)?.signed);
    const rosterKeys = new Map(keySet.roster.keys.map((k) => [k.keyId, fromBase64Url(k.publicKey)]));
    expect(countValidSignatures(answer.proof, rosterKeys)).toBe(1);

    const again = await enroll(tokens[0] as string, 'gate-t2');
    expect(again.status).toBe(403);
    expect(String(again.body.message)).toMatch(/unknown, already used or expired/);
    expect((await enroll(tokens[1] as string, 'gate-t2')).status).toBe(200);
  });

  it('refuses a token once it has expired', async () => {
    const run = await cli('tokens', 'create', '--school', 'school-1', '--ttl-hours', '0.0001', '--json');
    expect(run.code, run.stderr).toBe(0);
    const { tokens, expiresAt } = run.json<{ tokens: string[]; expiresAt: string }>();
    // 0.36 s: wait until the bridge's clock is past it.
    while (Date.now() <= Date.parse(expiresAt) + 50) await new Promise((r) => setTimeout(r, 50));
    const late = await enroll(tokens[0] as string, 'gate-late');
    expect(late.status).toBe(403);
  });

  it('prints the tokens one a line, and answers bad usage with exit code 2', async () => {
    const text = await cli('tokens', 'create', '--school', 'school-1', '--count', '3');
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toHaveLength(3);
    expect(text.stderr).toMatch(/3 enrollment token\(s\) for school-1/);

    for (const [args, message] of [
      [['tokens', 'create'], /required option '--school <id>'/],
      [['tokens', 'create', '--school', 'school-1', '--count', '0'], /a whole number from 1 to 500/],
      [['tokens', 'create', '--school', 'school-1', '--ttl-hours', '-1'], /a number above 0/],
      [['tokens', 'mint'], /unknown command 'mint'/],
    ] as const) {
      const run = await cli(...args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    const noConfig = await bridgeCli([
      'tokens',
      'create',
      '--school',
      'school-1',
      '--config',
      join(dir, 'nope.json'),
    ]);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toMatch(/no bridge config at .*nope\.json\n.*educard-bridge init/);
  });

  it('says when the bridge is not reachable, or the admin token is wrong', async () => {
    const down = await bridgeCli([
      'tokens',
      'create',
      '--school',
      'school-1',
      '--url',
      `http://127.0.0.1:${await freePort()}`,
      '--admin-token',
      'whatever-token-0123456789',
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/is not reachable \(ECONNREFUSED\)\ncheck that it runs/);
    const wrong = await bridgeCli(['devices', 'list', '--url', bridge.http], {
      EDUCARD_ADMIN_TOKEN: 'not-the-admin-token-0123',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the admin token/);
  });
});

describe('educard-bridge devices', () => {
  it('revokes a device: its live MQTT connection is cut and it can no longer connect', async () => {
    const { tokens } = (await cli('tokens', 'create', '--school', 'school-1', '--json')).json<{
      tokens: string[];
    }>();
    const granted = EnrollmentResponse.parse((await enroll(tokens[0] as string, 'gate-r')).body);
    const options = {
      clientId: 'gate-r',
      username: granted.mqtt.username,
      password: granted.mqtt.password,
      reconnectPeriod: 0,
    };
    const client = await mqtt.connectAsync(granted.mqtt.url, options);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    const listed = await cli('devices', 'list', '--school', 'school-1', '--json');
    expect(listed.code).toBe(0);
    const devices = listed.json<{ devices: { id: string; revokedAt?: string }[] }>().devices;
    expect(devices.find((d) => d.id === 'gate-r')).toMatchObject({ id: 'gate-r' });
    expect(devices.find((d) => d.id === 'gate-r')?.revokedAt).toBeUndefined();

    const revoked = await cli('devices', 'revoke', 'gate-r');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/gate-r revoked: its connection is cut/);
    await closed;
    await expect(mqtt.connectAsync(granted.mqtt.url, options)).rejects.toThrow(/Not authorized|Bad username/);
    const after = (await cli('devices', 'list', '--json')).json<{
      devices: { id: string; revokedAt?: string }[];
    }>();
    expect(after.devices.find((d) => d.id === 'gate-r')?.revokedAt).toBeTruthy();

    const unknown = await cli('devices', 'revoke', 'gate-nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no device gate-nope\ncheck the id with `educard-bridge devices list`/);
  });
});

describe('educard-bridge import and cards', () => {
  it('reports a bad CSV row by row and applies nothing; applies a good one', async () => {
    const good = join(dir, 'good.csv');
    const bad = join(dir, 'bad.csv');
    await writeFile(good, [ROSTER_CSV_HEADER, rosterCsvRow(1), rosterCsvRow(2), rosterCsvRow(3)].join('\n'));
    await writeFile(
      bad,
      [
        ROSTER_CSV_HEADER,
        rosterCsvRow(1),
        rosterCsvRow(1, { uid: '04AABBCCDDEEFF' }),
        rosterCsvRow(2, { valid_until: 'soon' }),
        rosterCsvRow(4),
      ].join('\n'),
    );

    const dry = await cli('import', bad, '--school', 'school-1', '--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/^line\s+card\s+problem/);
    expect(dry.stdout).toMatch(new RegExp(`\\n3\\s+${sampleCard(1).cardId}\\s+card id repeats line 2`));
    expect(dry.stdout).toMatch(/\n4\s+.*validUntil/);
    expect(dry.stderr).toMatch(
      /the roster was refused: 2 problem\(s\) in 2 row\(s\); nothing was changed\nfix the rows/,
    );

    const json = await cli('import', bad, '--school', 'school-1', '--json');
    expect(json.code).toBe(1);
    const report = json.json<{ ok: boolean; problems: { line: number }[] }>();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.line)).toEqual([3, 4]);

    // Neither run changed anything: the good file would still add all three cards.
    const check = await cli('import', good, '--school', 'school-1', '--dry-run', '--json');
    expect(check.code).toBe(0);
    expect(check.json()).toMatchObject({ ok: true, dryRun: true, added: 3, unchanged: 0 });

    const applied = await cli('import', good, '--school', 'school-1');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/roster of school-1 is now version 1: 3 added/);
    const same = await cli('import', good, '--school', 'school-1');
    expect(same.stdout).toMatch(/nothing to change/);

    const missing = await cli('import', join(dir, 'nope.csv'), '--school', 'school-1');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no file .*nope\.csv\ngive the path of the roster CSV/);
  });

  it('reports a card lost, reissues one from what a technician types, and says what is wrong', async () => {
    const card = sampleCard(3);
    const lost = await cli('cards', 'lost', card.cardId, '--json');
    expect(lost.code, lost.stderr).toBe(0);
    expect(lost.json()).toMatchObject({ cardId: card.cardId, status: 'lost' });
    const twice = await cli('cards', 'lost', card.cardId);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already lost/);

    const noCredential = await cli('cards', 'reissue', card.cardId, '--new-card-id', 'E000000977');
    expect(noCredential.code).toBe(2);
    expect(noCredential.stderr).toMatch(/needs its credential\ngive --uid/);
    const sameUid = await cli(
      'cards',
      'reissue',
      card.cardId,
      '--new-card-id',
      'E000000977',
      '--uid',
      card.credential.uid as string,
    );
    expect(sameUid.code).toBe(1);
    expect(sameUid.stderr).toMatch(/must have its own UID/);
    const reissued = await cli(
      'cards',
      'reissue',
      card.cardId,
      '--new-card-id',
      'E000000977',
      '--uid',
      '04:a2:3b:1c:5d:6e:80',
      '--json',
    );
    expect(reissued.code, reissued.stderr).toBe(0);
    expect(reissued.json()).toMatchObject({ cardId: card.cardId, newCardId: 'E000000977' });

    const unknown = await cli('cards', 'cancel', 'E999999999');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no card E999999999 on any roster\ncheck the card id/);
  });
});

describe('educard-bridge library', () => {
  it('imports a catalogue all or nothing, and lists the loans overdue as a table, JSON or the CSV to print', async () => {
    const bad = join(dir, 'catalogue-bad.csv');
    const good = join(dir, 'catalogue.csv');
    await writeFile(bad, 'item_id,title\n9787020002207,Dream of the Red Chamber\nbad id!,A title\n');
    await writeFile(
      good,
      'item_id,title\n9787020002207,Dream of the Red Chamber\n9787020008735,Journey to the West\n',
    );

    const refused = await cli('library', 'import', bad, '--school', 'school-1');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^line\s+item\s+problem\n3\s+/);
    expect(refused.stderr).toMatch(
      /the catalogue was refused: 1 problem\(s\) in 1 row\(s\); nothing was changed/,
    );
    const dry = await cli('library', 'import', good, '--school', 'school-1', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ ok: true, dryRun: true, added: 2 });
    const applied = await cli('library', 'import', good, '--school', 'school-1');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/catalogue of school-1 is now version 1: 2 added/);
    const missing = await cli('library', 'import', join(dir, 'nope.csv'), '--school', 'school-1');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/give the path of the catalogue CSV/);

    const overdue = await cli('library', 'overdue', '--school', 'school-1');
    expect(overdue.code, overdue.stderr).toBe(0);
    expect(overdue.stdout.trim()).toBe('nothing is overdue at school-1');
    const json = await cli('library', 'overdue', '--school', 'school-1', '--json');
    expect(json.json()).toMatchObject({ school: 'school-1', loans: [] });
    const csv = await cli('library', 'overdue', '--school', 'school-1', '--csv');
    expect(csv.stdout).toBe(
      '\ufeffclass,name,person_id,role,item_id,title,due_date,days_overdue,renewals,station,now_at,parents_reminded\r\n',
    );
    expect((await cli('library', 'overdue', '--school', 'school-1', '--csv', '--json')).code).toBe(2);
    const ofClass = await cli('library', 'overdue', '--school', 'school-1', '--class', '2');
    expect(ofClass.code, ofClass.stderr).toBe(0);
    expect(ofClass.stdout.trim()).toBe('nothing is overdue at school-1 (class 2)');
    const noClass = await cli('library', 'overdue', '--school', 'school-1', '--class', '9Z');
    expect(noClass.code).toBe(1);
    expect(noClass.stderr).toMatch(/no class 9Z in school-1/);
  });
});
