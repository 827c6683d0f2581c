import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBridgeConfig, parseRootKeyFile } from '@educard/cloud-bridge';
import { KeyRole, keyIdOf, RosterKeySet, rootFingerprint } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bridgeCli } from '../support/cli.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-init-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const initArgs = (extra: string[] = []) => [
  'init',
  '--config',
  join(dir, 'etc', 'bridge.json'),
  '--data-dir',
  join(dir, 'data'),
  '--root-key-out',
  join(dir, 'usb', 'root-key.json'),
  ...extra,
];

const mode = async (path: string) => (await stat(path)).mode & 0o777;

/** Every file under dir with its bytes and modification time: what "nothing changed" compares. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path] = `${(await stat(path)).mtimeMs}:${await readFile(path, 'utf8')}`;
  }
  return out;
}

describe('educard-bridge init (and serve without a config)', () => {
  it('writes the config, the roster key without the root, the root key apart and the anchor, each with its mode', async () => {
    const run = await bridgeCli(initArgs(['--json', '--mqtt-host', '0.0.0.0', '--http-port', '8181']));
    expect(run.code, run.stderr).toBe(0);
    const printed = run.json<{ fingerprint: string; anchor: string; rootKeyIds: string[] }>();
    expect(printed.anchor).toBe(join(dir, 'etc', 'anchor.json'));

    const config = parseBridgeConfig(JSON.parse(await readFile(join(dir, 'etc', 'bridge.json'), 'utf8')));
    expect(config).toMatchObject({
      dataDir: join(dir, 'data'),
      mqtt: { embedded: true, host: '0.0.0.0', port: 1883 },
      http: { host: '127.0.0.1', port: 8181 },
    });
    expect(config.adminToken.length).toBeGreaterThanOrEqual(32);
    // A scrape credential of its own, not the admin token.
    expect(config.metrics.token?.length).toBeGreaterThanOrEqual(32);
    expect(config.metrics.token).not.toBe(config.adminToken);
    expect(await mode(join(dir, 'etc', 'bridge.json'))).toBe(0o600);

    const keys = JSON.parse(await readFile(join(dir, 'data', 'roster-keys.json'), 'utf8'));
    expect(keys.root).toBeUndefined();
    expect(keys.roster).toHaveLength(1);
    expect(await mode(join(dir, 'data', 'roster-keys.json'))).toBe(0o600);
    expect(await mode(join(dir, 'data'))).toBe(0o700);

    const root = parseRootKeyFile(await readFile(join(dir, 'usb', 'root-key.json'), 'utf8'));
    expect(await mode(join(dir, 'usb', 'root-key.json'))).toBe(0o600);

    const anchor = KeyRole.parse(JSON.parse(await readFile(join(dir, 'etc', 'anchor.json'), 'utf8')));
    const keySet = RosterKeySet.parse(JSON.parse(keys.keySets[0]).signed);
    expect(keySet).toMatchObject({ version: 1, root: anchor });
    expect(anchor.keys.map((k) => k.keyId)).toEqual(root.map((k) => keyIdOf(k.publicKey)));
    expect(printed.rootKeyIds).toEqual(anchor.keys.map((k) => k.keyId));
    expect(printed.fingerprint).toBe(rootFingerprint(anchor));
    expect(printed.fingerprint).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){7}$/);
  });

  it('refuses to set up a bridge twice without --force and changes nothing; --force makes new keys', async () => {
    expect((await bridgeCli(initArgs())).code).toBe(0);
    const before = await snapshot(dir);
    const again = await bridgeCli(initArgs());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already there: config .*nothing was written/);
    expect(again.stderr).toMatch(/--force/);
    expect(await snapshot(dir)).toEqual(before);

    const forced = await bridgeCli(initArgs(['--force', '--json']));
    expect(forced.code, forced.stderr).toBe(0);
    const anchorBefore = before[join(dir, 'etc', 'anchor.json')];
    expect((await snapshot(dir))[join(dir, 'etc', 'anchor.json')]).not.toBe(anchorBefore);
  });

  it('answers bad flags with exit code 2 and a message, writing nothing', async () => {
    for (const [args, message] of [
      [initArgs(['--http-port', 'eighty']), /--http-port <port>' argument 'eighty' is invalid/],
      [initArgs(['--bogus']), /unknown option '--bogus'/],
      [['init', '--config', join(dir, 'etc', 'bridge.json')], /required option '--root-key-out <file>'/],
      [initArgs(['--anchor-out', join(dir, 'usb', 'root-key.json')]), /must be four different files/],
      [
        ['serve', '--config', join(dir, 'nope.json')],
        /no bridge config at .*nope\.json\n.*educard-bridge init/,
      ],
    ] as const) {
      const run = await bridgeCli([...args]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes none of the files when one of them cannot be written', async () => {
    await writeFile(join(dir, 'not-a-dir'), 'x');
    const run = await bridgeCli([
      'init',
      '--config',
      join(dir, 'etc', 'bridge.json'),
      '--data-dir',
      join(dir, 'data'),
      '--root-key-out',
      join(dir, 'not-a-dir', 'root-key.json'),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/could not write the files: .*nothing was written/);
    expect((await readdir(dir)).sort()).toEqual(['not-a-dir']);
  });
});
