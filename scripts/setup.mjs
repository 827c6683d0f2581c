#!/usr/bin/env node
// Brings a fresh clone to a runnable state before `npm run demo`, `npm test` and `npm run bench`:
// checks Node, installs the locked npm packages when they are missing or stale, installs the Debian
// packages the command needs (as root; otherwise it prints the exact command), and builds the TypeScript.
// Plain JavaScript with no dependencies, because it runs before any are installed.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (text) => process.stderr.write(`[setup] ${text}\n`);

function fail(text) {
  say(text);
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0)
    fail(`"${command} ${args.join(' ')}" failed (exit ${result.status ?? result.signal})`);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19))
  fail(`Node ${process.versions.node} is too old: educard-edge needs Node >= 20.19.`);

/**
 * Debian packages each command needs, installed before the npm packages because the PC/SC binding
 * builds against libpcsclite-dev: the tests and benchmarks run Mosquitto as a separate broker and
 * pcscd with vsmartcard's virtual readers. The demo runs without them (simulated readers) and uses
 * the virtual card when they are there.
 */
const PCSC = ['pcscd', 'libpcsclite-dev', 'vsmartcard-vpcd'];
// systemd brings systemd-analyze, which checks the gateway's and the bridge's unit files.
// python3 receives sd_notify datagrams in the update tests (Node has no unix datagram sockets).
// chromium: the terminal pages are tested and measured in a real browser (Playwright drives it), with
// fonts-noto-cjk so that their Chinese is drawn (not boxes) in the screenshots.
// btrfs-progs: a journal on btrfs on a loop device, where a flipped byte under a file is a real EIO.
// iproute2: a network namespace's loopback taken down under a PostgreSQL connection (a partition).
// nats-server: the three-node broker cluster of the scale-out tests and benchmarks (docs/scale-out.md).
// postgresql: the bridge's store on PostgreSQL, started by the tests and benchmarks as a child
// process; libpq-dev builds the libpq module it is reached through (then `npm rebuild libpq`).
// prometheus brings promtool, which checks the alert rules and runs their unit tests; lintian checks
// the Debian packages `npm run package` builds.
const TEST_PACKAGES = [
  'mosquitto',
  'nats-server',
  'postgresql',
  'libpq-dev',
  'systemd',
  'chromium',
  'fonts-noto-cjk',
  'prometheus',
  'lintian',
  'python3',
  'btrfs-progs',
  'iproute2',
  ...PCSC,
];
const DEBIAN = {
  test: { required: TEST_PACKAGES, optional: [] },
  // The same suite with the clock moved years ahead (libfaketime).
  'test-future': {
    required: [...TEST_PACKAGES, 'faketime'],
    optional: [],
  },
  bench: {
    required: ['mosquitto', 'nats-server', 'postgresql', 'libpq-dev', 'chromium', ...PCSC],
    optional: [],
  },
  'fleet-sim': { required: ['nats-server'], optional: [] },
  demo: { required: [], optional: PCSC },
  // dpkg-deb (dpkg) builds the packages and binutils strips their native modules, which build
  // against libpcsclite-dev.
  package: { required: ['binutils', 'libpcsclite-dev'], optional: [] },
};
const purpose = process.argv[2] ?? 'demo';
const wanted = DEBIAN[purpose] ?? { required: [], optional: [] };
const absent = (names) =>
  names.filter((name) => spawnSync('dpkg', ['-s', name], { stdio: 'ignore' }).status !== 0);
const missing = absent([...wanted.required, ...wanted.optional]);
if (missing.length) {
  const install = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() === 0) {
    say(`installing Debian packages: ${missing.join(', ')}`);
    run('sh', ['-c', install]);
  } else if (absent(wanted.required).length) {
    fail(`missing Debian packages: ${missing.join(', ')}. Run as root:\n  sudo sh -c '${install}'`);
  } else {
    say(
      `without ${missing.join(', ')} the demo uses simulated readers only; for the PC/SC path run as root:\n  sudo sh -c '${install}'`,
    );
  }
}

const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  // `npm install`, not `npm ci`: npm 11 leaves other platforms' optional packages (Biome's binaries)
  // out of the lockfile and then `npm ci` refuses it as out of sync. With a lockfile present
  // `npm install` still installs exactly the locked versions.
  say('installing npm packages from package-lock.json');
  run('npm', ['install', '--no-audit', '--no-fund']);
}

// The native bindings are optional, so an install made before their -dev package was there left them
// unbuilt: the PC/SC binding, and libpq (the bridge's store on PostgreSQL).
for (const native of [
  { name: 'smartcard', built: 'smartcard_napi.node', dev: 'libpcsclite-dev' },
  { name: 'libpq', built: 'addon.node', dev: 'libpq-dev' },
]) {
  const folder = join(root, 'node_modules', native.name);
  if (
    existsSync(folder) &&
    !existsSync(join(folder, 'build', 'Release', native.built)) &&
    !absent([native.dev]).length
  ) {
    say(`building ${native.name} against ${native.dev}`);
    run('npm', ['rebuild', native.name]);
  }
}

// The TypeScript, then the terminal pages: type-checked as browser code and bundled by Vite into
// gateway/dist/pages (package.json's build script).
run('npm', ['run', '--silent', 'build']);
