import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { postgresBin } from './postgres.js';

describe('postgresBin', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("finds the newest major version Debian's package installed, whichever Debian it is", () => {
    vi.stubEnv('POSTGRES_BIN', '');
    const bin = postgresBin();
    expect(bin).toMatch(/^\/usr\/lib\/postgresql\/\d+\/bin$/);
    expect(Number(bin.split('/')[4])).toBeGreaterThanOrEqual(15);
    expect(existsSync(join(bin, 'initdb'))).toBe(true);
  });

  it('takes POSTGRES_BIN when it names a folder with the server in it, and says so when it does not', async () => {
    const found = postgresBin();
    vi.stubEnv('POSTGRES_BIN', found);
    expect(postgresBin()).toBe(found);
    const empty = await mkdtemp(join(tmpdir(), 'educard-no-pg-'));
    try {
      vi.stubEnv('POSTGRES_BIN', empty);
      expect(() => postgresBin()).toThrow(`POSTGRES_BIN=${empty} holds no postgres program`);
    } finally {
      await rm(empty, { recursive: true });
    }
  });
});
