import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.js';
import { SERVICES, servicePackageJson } from './stage.js';

const rootPackage = async () => JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));

describe("the install scripts npm runs (the root package.json's allowScripts)", () => {
  it('names every locked package that has an install script, each one reviewed to run or not', async () => {
    const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { hasInstallScript?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([location]) => location.replace(/^.*node_modules\//, ''));
    expect(withScripts).toContain('better-sqlite3');
    const { allowScripts } = await rootPackage();
    // npm 12 runs no install script it is not told of: an unnamed native module would stay unbuilt.
    const unreviewed = withScripts.filter((name) => typeof allowScripts?.[name] !== 'boolean');
    expect(unreviewed, 'add each to allowScripts in package.json (npm install-scripts approve|deny)').toEqual(
      [],
    );
    // The natives the gateway and bridge load are built; a postinstall that only prints is not run.
    for (const native of [
      'better-sqlite3',
      'argon2',
      'smartcard',
      'libpq',
      'node-libgpiod',
      '@serialport/bindings',
    ])
      expect(allowScripts[native], native).toBe(true);
    expect(allowScripts.serialport).toBe(false);
  });

  it("keeps them in the package.json of a service's tree, trimmed to its workspaces", async () => {
    const { allowScripts, name, version } = await rootPackage();
    for (const service of Object.values(SERVICES)) {
      const trimmed = JSON.parse(await servicePackageJson(REPO_ROOT, service.workspaces));
      expect(trimmed).toMatchObject({ name, version, private: true, workspaces: service.workspaces });
      expect(trimmed.allowScripts).toEqual(allowScripts);
      expect(trimmed.scripts).toBeUndefined();
      expect(trimmed.devDependencies).toBeUndefined();
    }
  });
});
