import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

/**
 * Every module URL a process loads, as a module hook sees them, that loads what the service does
 * before its station (`gateway/dist/main.js`'s module graph) and then a gate's station factory.
 */
async function modulesOfGatewayStart(): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'start-modules-'));
  dirs.push(dir);
  const list = join(dir, 'loaded.txt');
  await writeFile(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(list)}, url + '\\n');
  return next(url, context);
}
`,
  );
  await writeFile(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
  const dist = (path: string) => JSON.stringify(pathToFileURL(resolve('gateway/dist', path)).href);
  await writeFile(
    join(dir, 'gate.mjs'),
    `// main.js's graph loaded with --help (it exits after its command: kept alive to go on).
process.argv.push('--help');
process.exit = () => undefined;
await import(${dist('main.js')});
const { loadStationFactory } = await import(${dist('runtime/stations.js')});
await loadStationFactory('gate');
`,
  );
  execFileSync(process.execPath, ['--import', join(dir, 'register.mjs'), join(dir, 'gate.mjs')], {
    stdio: 'ignore',
  });
  return (await readFile(list, 'utf8')).trim().split('\n');
}

describe('the gateway service at start', () => {
  it('loads the roster and the gate IO, and none of a library desk, a computer room, a venue or their terminals', async () => {
    const loaded = await modulesOfGatewayStart();
    expect(loaded.some((url) => url.includes('/gateway/dist/roster/'))).toBe(true);
    expect(loaded.some((url) => url.includes('/node_modules/johnny-five/'))).toBe(true);
    expect(loaded.some((url) => url.includes('/gateway/dist/stations/gate/'))).toBe(true);
    const stationOwn = loaded.filter((url) =>
      /\/gateway\/dist\/(sip2\/(?!config\.js)|terminals\/(?!config\.js)|page-server\/|stations\/(library|lab|venue)\/(?!config\.js))|\/node_modules\/(aedes|sirv|ws)\//.test(
        url,
      ),
    );
    expect(stationOwn).toEqual([]);
  });
});
