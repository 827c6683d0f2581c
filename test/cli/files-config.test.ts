import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { educard } from '../support/cli.js';
import { PASSWORD, type Provisioned, provisioned } from './files-fixture.js';

let device: Provisioned;
beforeAll(async () => {
  device = await provisioned();
});
afterAll(async () => {
  await rm(device.dir, { recursive: true, force: true });
});

describe('educard config', () => {
  it('get: one setting, or the whole configuration with defaults; secrets masked unless --show-secrets', async () => {
    const [id, whole, secret, shown, raw, unset] = await Promise.all([
      educard(device.config, ['config', 'get', 'device.id']),
      educard(device.config, ['config', 'get', '--json']),
      educard(device.config, ['config', 'get', 'uplink.password']),
      educard(device.config, ['config', 'get', 'uplink.password', '--show-secrets']),
      educard(device.config, ['config', 'get', '--raw', '--json']),
      educard(device.config, ['config', 'get', 'uplink.passwd']),
    ]);
    expect(id).toMatchObject({ code: 0, stdout: 'gate-01\n' });
    expect(whole.code, whole.stderr).toBe(0);
    const config = JSON.parse(whole.stdout);
    expect(config).toMatchObject({
      device: { id: 'gate-01' },
      dataDir: device.dataDir,
      journal: { segmentBytes: 4 * 1024 * 1024 },
      uplink: { username: 'gate-01', password: '***' },
    });
    expect(whole.stdout).not.toContain(PASSWORD);
    expect(secret).toMatchObject({ code: 0, stdout: '***\n' });
    expect(shown).toMatchObject({ code: 0, stdout: `${PASSWORD}\n` });
    expect(JSON.parse(raw.stdout)).toMatchObject({ dataDir: 'data', uplink: { password: '***' } });
    expect(JSON.parse(raw.stdout).journal).toBeUndefined();
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain('uplink.passwd is not set');
    expect(unset.stderr).toContain('Settings under uplink: url, failover, bridgeHttp, username, password');
  });

  it('set: validates the whole file first; an invalid value or an unknown key exits 2 and leaves the file byte for byte', async () => {
    const before = await readFile(device.config);
    const invalid = await educard(device.config, ['config', 'set', 'journal.segmentBytes', '12']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain(
      'journal.segmentBytes = 12 would make the configuration invalid; nothing was written',
    );
    expect(invalid.stderr).toContain('journal.segmentBytes: Too small');
    const typo = await educard(device.config, ['config', 'set', 'jornal.segmentBytes', '8388608']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('jornal.segmentBytes is not a setting the gateway knows');
    const notObject = await educard(device.config, ['config', 'set', 'device.id.x', '1']);
    expect(notObject.code).toBe(2);
    expect(notObject.stderr).toContain('device.id is not an object: device.id.x cannot be set');
    const missing = await educard(device.config, ['config', 'set', 'station.zone']);
    expect(missing.code).toBe(2);
    expect((await readFile(device.config)).equals(before)).toBe(true);
  });

  it('set: writes the raw file atomically, keeps its mode, and says to restart the service', async () => {
    await chmod(device.config, 0o640);
    const set = await educard(device.config, ['config', 'set', 'journal.segmentBytes', '8388608']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('journal.segmentBytes: (not set: default 4194304) -> 8388608');
    expect(set.stdout).toContain('sudo systemctl restart educard-gateway');
    const file = JSON.parse(await readFile(device.config, 'utf8'));
    // The raw file, not the parsed one: no defaults filled in, paths as written.
    expect(file.journal).toEqual({ segmentBytes: 8388608 });
    expect(file.dataDir).toBe('data');
    expect(file.policy).toBeUndefined();
    expect((await stat(device.config)).mode & 0o777).toBe(0o640);

    const string = await educard(device.config, ['config', 'set', 'station.zone', 'library', '--json']);
    expect(JSON.parse(string.stdout)).toMatchObject({
      key: 'station.zone',
      before: 'main-gate',
      value: 'library',
      changed: true,
    });
    const again = await educard(device.config, ['config', 'set', 'station.zone', 'library']);
    expect(again.stdout).toContain('station.zone is already "library"; nothing written');

    // A secret from standard input: never on the command line, never printed.
    const secret = await educard(device.config, ['config', 'set', 'uplink.password', '-', '--json'], {
      input: 'new-secret-77\n',
    });
    expect(secret.code, secret.stderr).toBe(0);
    expect(JSON.parse(secret.stdout)).toMatchObject({ before: '***', value: '***' });
    expect(secret.stdout).not.toContain('new-secret-77');
    expect(JSON.parse(await readFile(device.config, 'utf8')).uplink.password).toBe('new-secret-77');
  });

  it('validate: every problem at once with exit 2; unknown keys are warned about; a missing file exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'educard-config-'));
    try {
      const bad = join(dir, 'gateway.json');
      await writeFile(
        bad,
        JSON.stringify({
          device: { id: 'gate 1', school: 'school-1' },
          station: { id: 's', zone: 'z' },
          jornal: {},
        }),
      );
      const text = await educard(bad, ['config', 'validate']);
      expect(text.code).toBe(2);
      expect(text.stderr).toMatch(/is not valid: 2 problem\(s\)\n {2}device\.id: .*\n {2}dataDir: /);
      const json = await educard(bad, ['config', 'validate', '--json']);
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({
        valid: false,
        problems: [{ path: 'device.id' }, { path: 'dataDir' }],
      });

      await writeFile(
        bad,
        JSON.stringify({ ...JSON.parse(await readFile(device.config, 'utf8')), jornal: {} }),
      );
      const warned = await educard(bad, ['config', 'validate']);
      expect(warned.code).toBe(0);
      expect(warned.stdout).toContain(`configuration ${bad} is valid`);
      expect(warned.stdout).toContain('warning: jornal is not a setting the gateway knows; it is ignored');

      const absent = join(dir, 'absent.json');
      for (const args of [
        ['config', 'validate'],
        ['roster', 'show'],
      ]) {
        const result = await educard(absent, args);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr, args.join(' ')).toContain(`${absent}`);
        expect(result.stderr, args.join(' ')).toMatch(/cannot be read \(ENOENT\)\n.*educard init/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
