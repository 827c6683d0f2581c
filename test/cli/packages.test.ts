import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../support/cli.js';
import { fakeSystemdNotify, REPO_ROOT } from '../support/processes.js';

/**
 * `npm run package` builds both Debian packages; dpkg-deb and lintian inspect them; then dpkg installs
 * them for real into a throwaway root: a private mount namespace with overlays on /etc, /var, /usr,
 * /opt and /root, so the maintainer scripts make their user, directories, config and unit links there
 * while the host's own stay untouched (its dpkg database included). In it the packaged bridge runs as
 * its own user, tells systemd it is ready and feeds the watchdog; a reinstall keeps a changed conffile
 * and the bridge's config, `dpkg -r` keeps the data and the config, `dpkg -P` keeps the data.
 */

const run = promisify(execFile);
let dir: string;
let debs: { service: string; name: string; file: string; architecture: string; version: string }[];

const deb = (service: string) => {
  const found = debs.find((p) => p.service === service);
  if (!found) throw new Error(`no ${service} package was built`);
  return found;
};

/** Runs a shell script in the throwaway root; what it changes stays in `dir`'s overlay layers. */
async function inRoot(script: string): Promise<string> {
  const layers = ['etc', 'var', 'usr', 'opt', 'root'];
  const mounts = layers
    .map(
      (layer) =>
        `mkdir -p ${dir}/root/${layer} ${dir}/work/${layer} && mount -t overlay overlay -o lowerdir=/${layer},upperdir=${dir}/root/${layer},workdir=${dir}/work/${layer} /${layer}`,
    )
    .join('\n');
  try {
    const { stdout } = await run(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-euc', `${mounts}\n${script}`],
      {
        maxBuffer: 16 * 1024 * 1024,
        // Only what a root shell has: the test runner's own variables (NODE_OPTIONS) are not the service's.
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          HOME: '/root',
          DEBIAN_FRONTEND: 'noninteractive',
        },
      },
    );
    return stdout;
  } catch (error) {
    const failed = error as { stdout: string; stderr: string };
    throw new Error(`in the throwaway root:\n${script}\n${failed.stdout}\n${failed.stderr}`);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'packages-'));
  // The packaged bridge runs as its own user and reaches the notify stand-in in here.
  await chmod(dir, 0o755);
  if (process.getuid?.() !== 0)
    throw new Error('installing into a throwaway root needs root (as npm test runs)');
  const built = await runCommand('scripts/dist/package/index.js', ['--out', join(dir, 'debs'), '--json'], {
    timeoutMs: 600_000,
  });
  expect(built.code, built.stderr).toBe(0);
  debs = built.json<{ packages: typeof debs }>().packages;
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run package', () => {
  it('builds both packages for this architecture, with their scripts, conffile and unit, and only production npm packages', async () => {
    const { stdout: arch } = await run('dpkg', ['--print-architecture']);
    const version = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version;
    for (const service of ['gateway', 'bridge']) {
      const { file, name } = deb(service);
      expect(file.endsWith(`${name}_${version}_${arch.trim()}.deb`)).toBe(true);
      const info = (await run('dpkg-deb', ['--info', file])).stdout;
      expect(info).toContain(`Package: ${name}`);
      expect(info).toMatch(/Depends: nodejs \(>= 20\.19\), init-system-helpers/);
      for (const script of ['postinst', 'prerm', 'postrm', 'conffiles']) expect(info).toContain(script);
      const contents = (await run('dpkg-deb', ['--contents', file], { maxBuffer: 64 * 1024 * 1024 })).stdout;
      expect(contents).toContain(`./lib/systemd/system/${name}.service`);
      expect(contents).toContain(`./etc/default/${name}`);
      expect(contents).toMatch(
        new RegExp(`\\./usr/bin/${service === 'gateway' ? 'educard' : 'educard-bridge'} -> `),
      );
      // The gateway as a release beside those fleet updates add (docs/updates.md); the bridge as one tree.
      const home = service === 'gateway' ? `./opt/educard/releases/${version}` : `./usr/lib/${name}`;
      expect(contents).toContain(`${home}/node_modules/prom-client/`);
      if (service === 'gateway') {
        expect(contents).toContain(`./opt/educard/current -> releases/${version}`);
        expect(contents).toContain(`./opt/educard/committed -> releases/${version}`);
        expect(contents).toContain('./lib/systemd/system/educard-gateway-rollback.service');
      }
      for (const tool of ['vitest', 'typescript', 'vite', '@biomejs', 'playwright-core'])
        expect(contents, tool).not.toContain(`/node_modules/${tool}/`);
      const conffiles = (await run('sh', ['-c', `dpkg-deb --ctrl-tarfile ${file} | tar -xOf - ./conffiles`]))
        .stdout;
      expect(conffiles).toBe(`/etc/default/${name}\n`);
    }
  });

  it('is lintian clean', { timeout: 600_000 }, async () => {
    const { stdout, stderr } = await run(
      'lintian',
      ['--tag-display-limit', '0', deb('gateway').file, deb('bridge').file],
      { maxBuffer: 16 * 1024 * 1024 },
    ).catch((error: { stdout: string; stderr: string }) => error);
    expect(stdout.trim(), stderr).toBe('');
  });

  it('installs into a throwaway root: users, directories, the bridge set up and running as its own user', {
    timeout: 300_000,
  }, async () => {
    const installed = await inRoot(`dpkg -i ${deb('gateway').file} ${deb('bridge').file}`);
    expect(installed).toContain('Setting up educard-gateway');
    expect(installed).toContain('Setting up educard-bridge');
    expect(installed).toContain('move it offline');

    const state = await inRoot(`
      getent passwd educard educard-bridge | cut -d: -f1,7
      stat -c '%n %U:%G %a' /etc/educard /var/lib/educard /etc/educard/bridge.json /var/lib/educard-bridge /var/lib/educard-bridge/roster-keys.json /root/educard-bridge-root-key.json
      ls /etc/systemd/system/multi-user.target.wants/
      educard --version; educard-bridge --version`);
    expect(state).toContain('educard:/usr/sbin/nologin');
    expect(state).toContain('educard-bridge:/usr/sbin/nologin');
    for (const line of [
      '/etc/educard root:educard 2751',
      '/var/lib/educard educard:educard 750',
      '/etc/educard/bridge.json root:educard-bridge 640',
      '/var/lib/educard-bridge educard-bridge:educard-bridge 750',
      '/var/lib/educard-bridge/roster-keys.json educard-bridge:educard-bridge 600',
      '/root/educard-bridge-root-key.json root:root 600',
    ])
      expect(state).toContain(line);
    expect(state).toContain('educard-bridge.service');
    expect(state).toContain('educard-gateway.service');
    expect(state).toMatch(/0\.1\.0\n0\.1\.0\n$/);

    // The bridge as its unit runs it: its own user, its config, systemd's notify socket and watchdog.
    const notify = await fakeSystemdNotify(join(dir, 'notify'));
    const [http, mqtt] = [await freePort(), await freePort()];
    const served = await inRoot(`
      node -e '
        const fs = require("fs"); const path = "/etc/educard/bridge.json";
        const config = JSON.parse(fs.readFileSync(path, "utf8"));
        config.http.port = ${http}; config.mqtt.port = ${mqtt};
        fs.writeFileSync(path, JSON.stringify(config, null, 2));'
      PATH=${notify.bin}:$PATH NOTIFY_SOCKET=/run/notify WATCHDOG_USEC=2000000 \\
        setpriv --reuid=educard-bridge --regid=educard-bridge --init-groups \\
        educard-bridge serve --config /etc/educard/bridge.json > ${dir}/bridge.log 2>&1 &
      bridge=$!
      node -e '
        const token = JSON.parse(require("fs").readFileSync("/etc/educard/bridge.json", "utf8")).metrics.token;
        const get = (path, auth) => fetch("http://127.0.0.1:${http}" + path, auth ? { headers: { authorization: "Bearer " + auth } } : {});
        (async () => {
          for (let i = 0; i < 900; i++) {
            try { const r = await get("/health"); if (r.ok) break; } catch {}
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          const health = await (await get("/health")).json();
          const metrics = await (await get("/metrics", token)).text();
          await new Promise((resolve) => setTimeout(resolve, 2500));
          console.log(JSON.stringify({ health, info: metrics.split("\\n").find((l) => l.startsWith("educard_bridge_info")) }));
        })();'
      kill -TERM $bridge
      wait $bridge && echo "bridge stopped: 0"`).catch(async (error: Error) => {
      throw new Error(
        `${error.message}\nthe bridge's log:\n${await readFile(join(dir, 'bridge.log'), 'utf8')}`,
      );
    });
    const log = await readFile(join(dir, 'bridge.log'), 'utf8');
    expect(served, log).toContain('bridge stopped: 0');
    const answered = JSON.parse(served.split('\n').find((line) => line.startsWith('{')) ?? '{}');
    expect(answered.health).toMatchObject({ ok: true, mqtt: true });
    expect(answered.info).toBe('educard_bridge_info{version="0.1.0"} 1');
    const told = await readFile(notify.log, 'utf8');
    expect(told.split('\n')[0]).toMatch(/^--pid=\d+ --ready STATUS=bridge running$/);
    expect(told).toMatch(/WATCHDOG=1/);
    expect(told).toMatch(/STOPPING=1/);
  });

  it('keeps a changed conffile and the config on reinstall, the data on remove, and the data on purge', {
    timeout: 300_000,
  }, async () => {
    const bridge = deb('bridge').file;
    const kept = await inRoot(`
      echo 'NODE_OPTIONS=--max-old-space-size=1024' >> /etc/default/educard-bridge
      sha256sum /etc/educard/bridge.json > ${dir}/config.sha
      dpkg -i ${bridge} > /dev/null
      grep -c '^NODE_OPTIONS=--max-old-space-size=1024' /etc/default/educard-bridge
      sha256sum -c --quiet ${dir}/config.sha && echo 'config unchanged'
      dpkg -r educard-bridge educard-gateway > /dev/null
      for path in /usr/lib/educard-bridge /usr/bin/educard-bridge /var/lib/educard-bridge/bridge.db /etc/educard/bridge.json /var/lib/educard /etc/default/educard-bridge; do
        if [ -e "$path" ]; then echo "kept $path"; else echo "gone $path"; fi
      done
      dpkg -P educard-bridge
      for path in /etc/educard/bridge.json /var/lib/educard-bridge/bridge.db /var/lib/educard-bridge/roster-keys.json; do
        if [ -e "$path" ]; then echo "purged, kept $path"; else echo "purged, gone $path"; fi
      done`);
    expect(kept).toMatch(/^1$/m);
    expect(kept).toContain('config unchanged');
    for (const line of [
      'gone /usr/lib/educard-bridge',
      'gone /usr/bin/educard-bridge',
      'kept /var/lib/educard-bridge/bridge.db',
      'kept /etc/educard/bridge.json',
      'kept /var/lib/educard',
      'kept /etc/default/educard-bridge',
      'purged, gone /etc/educard/bridge.json',
      'purged, kept /var/lib/educard-bridge/bridge.db',
      'purged, kept /var/lib/educard-bridge/roster-keys.json',
    ])
      expect(kept).toContain(line);
    expect(kept).toContain('its data in /var/lib is kept');
    // The host's own system never saw any of it.
    await expect(run('getent', ['passwd', 'educard-bridge'])).rejects.toThrow();
    await expect(run('dpkg', ['-s', 'educard-bridge'])).rejects.toThrow();
  });
});
