import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { educard } from '../support/cli.js';

let dir: string;
let config: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'educard-terminals-'));
  config = join(dir, 'gateway.json');
  await writeFile(
    config,
    JSON.stringify({
      device: { id: 'gw-library', school: 'school-1' },
      dataDir: join(dir, 'data'),
      station: { type: 'library', id: 'library-1', zone: 'library' },
    }),
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('educard terminals', () => {
  it('adds a terminal with a password shown once and only its hash kept, lists and removes it', async () => {
    const added = await educard(config, ['terminals', 'add', 'desk-1', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const { password, stations, page } = added.json<{ password: string; stations: string[]; page: string }>();
    expect(stations).toEqual(['library-1']);
    expect(page).toContain(`#terminal=desk-1&password=${password}&station=library-1`);
    const written = await readFile(config, 'utf8');
    expect(written).not.toContain(password);
    expect(JSON.parse(written).terminals.terminals).toEqual([
      {
        id: 'desk-1',
        passwordSha256: createHash('sha256').update(password).digest('hex'),
        stations: ['library-1'],
      },
    ]);
    expect((await educard(config, ['terminals', 'list', '--json'])).json()).toEqual({
      terminals: [{ id: 'desk-1', stations: ['library-1'] }],
    });

    const again = await educard(config, ['terminals', 'add', 'desk-1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('terminal desk-1 exists');
    const bad = await educard(config, ['terminals', 'add', 'desk 2']);
    expect(bad.code).toBe(2);
    expect(await readFile(config, 'utf8')).toBe(written);

    expect((await educard(config, ['terminals', 'remove', 'desk-1'])).code).toBe(0);
    expect(JSON.parse(await readFile(config, 'utf8')).terminals.terminals).toEqual([]);
    expect((await educard(config, ['terminals', 'remove', 'desk-1'])).code).toBe(1);
  });
});
