import { execFile } from 'node:child_process';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { REPO_ROOT } from '../paths.js';
import { SERVICES, type Service, stageService } from './stage.js';

const run = promisify(execFile);

/** Node, the systemd helpers the maintainer scripts use, and what the native modules link against. */
const NATIVE_DEPENDS = [
  'nodejs (>= 20.19)',
  'init-system-helpers (>= 1.54)',
  'libc6 (>= 2.34)',
  'libgcc-s1',
  'libstdc++6 (>= 12)',
];

/** What differs between the two packages; everything else is built the same way. */
const PACKAGES: Record<
  Service,
  {
    name: string;
    section: string;
    depends: string[];
    recommends: string[];
    summary: string;
    /** The extended description, in lines of at most 80 characters. */
    description: string[];
    /** Whether a fresh install starts the service (a gateway has no identity until `educard init`). */
    startOnInstall: boolean;
    /** Files the service's own commands write under /etc, removed on purge (never on remove). */
    madeConfig: string[];
    next: string;
  }
> = {
  gateway: {
    name: 'educard-gateway',
    section: 'misc',
    depends: [...NATIVE_DEPENDS, 'libpcsclite1'],
    recommends: ['pcscd', 'gpiod'],
    summary: 'school education-card gateway: readers, roster, gate IO, journal, uplink',
    description: [
      'Reads education cards at a school gate, library desk or computer room,',
      'decides from a signed roster held on the device whatever its network does,',
      'drives the gate, journals every event durably and sends it to the bridge.',
    ],
    startOnInstall: false,
    madeConfig: ['/etc/educard/gateway.json'],
    next: 'Next: sudo educard init; sudo educard enroll --token TOKEN --bridge URL; sudo systemctl start educard-gateway',
  },
  bridge: {
    name: 'educard-bridge',
    section: 'net',
    depends: NATIVE_DEPENDS,
    recommends: [],
    summary: 'school education-card bridge: broker, event store, rosters, central sync, pages',
    description: [
      "Takes every gateway's events exactly once into its database, signs and",
      "publishes the schools' rosters, keeps the central student-record system in",
      'sync and serves the HTTP API and the pages of head teachers, school admins',
      'and operators.',
    ],
    startOnInstall: true,
    madeConfig: ['/etc/educard/bridge.json', '/etc/educard/anchor.json'],
    next: 'The root key is in /root/educard-bridge-root-key.json: move it offline. Next: docs/install-bridge.md',
  },
};

const debianArch = async () => (await run('dpkg', ['--print-architecture'])).stdout.trim();

/**
 * The maintainer scripts: debhelper's systemd snippets (enable on install, respect an admin's disable
 * on upgrade, stop on remove, forget on purge) around deploy/prepare-host.sh, the same preparation the
 * install scripts run. Data directories are never removed, not even on purge.
 */
function maintainerScripts(service: Service, prefix: string): Record<string, string> {
  const { name, startOnInstall, madeConfig } = PACKAGES[service];
  const unit = `${name}.service`;
  const head = '#!/bin/sh\nset -e\n';
  return {
    postinst: `${head}
if [ "$1" = configure ]; then
  sh ${prefix}/deploy/prepare-host.sh ${service}${service === 'bridge' ? ` --bridge-cli /usr/bin/${SERVICES.bridge.command.name}` : ''}
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
  deb-systemd-helper unmask '${unit}' >/dev/null || true
  # was-enabled is true for a new install: enable; on an upgrade keep what the admin chose.
  if deb-systemd-helper --quiet was-enabled '${unit}'; then
    deb-systemd-helper enable '${unit}' >/dev/null || true
  else
    deb-systemd-helper update-state '${unit}' >/dev/null || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then
      deb-systemd-invoke try-restart '${unit}' >/dev/null || true
    elif ${startOnInstall ? 'true' : 'false'}; then
      deb-systemd-invoke start '${unit}' >/dev/null || true
    fi
  fi
fi
if [ "$1" = configure ] && [ -z "$2" ]; then
  echo '${PACKAGES[service].next}'
fi
exit 0
`,
    prerm: `${head}
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  deb-systemd-invoke stop '${unit}' >/dev/null || true
fi
exit 0
`,
    postrm: `${head}
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
  deb-systemd-helper mask '${unit}' >/dev/null || true
fi
if [ "$1" = purge ]; then
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge '${unit}' >/dev/null || true
    deb-systemd-helper unmask '${unit}' >/dev/null || true
  fi
  rm -f ${madeConfig.join(' ')}
  echo '${name} purged: its data in /var/lib is kept (remove it by hand when it is no longer needed)'
fi
exit 0
`,
  };
}

const defaultsFile = (
  service: Service,
) => `# Environment of ${PACKAGES[service].name}.service (a conffile: an upgrade keeps your changes).
# A district's own certificate authority, for the central system or the bridge behind TLS:
#NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/district-ca.crt
# More Node.js flags, such as a bigger heap for a large district:
#NODE_OPTIONS=--max-old-space-size=2048
`;

const copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: educard-edge
Source: https://github.com/educard/educard-edge

Files: *
Copyright: 2026 educard-edge contributors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0. The npm packages under node_modules keep their own
 licences, each in its own directory.
`;

/**
 * Lintian tags that do not fit a Node.js application shipped with its npm packages, each with why.
 * Everything else lintian says is fixed in the package, not overridden.
 */
const LINTIAN_OVERRIDES = [
  '# The commands are described by --help, docs/cli.md and docs/bridge-cli.md, not man pages.',
  'no-manual-page *',
  '# The gateway carries its Node flag in its shebang (env -S); the unit runs node with it directly.',
  'unusual-interpreter *',
  '# npm packages ship the libraries they were published with; Node loads them from node_modules.',
  'embedded-javascript-library *',
];

/**
 * The gateway's package installs its first release where fleet updates keep the next ones
 * (docs/updates.md): /opt/educard, an add-on tree the service itself writes to, as the FHS has /opt.
 */
const GATEWAY_LINTIAN_OVERRIDES = [
  '# /opt/educard is the release root fleet updates write releases/<version>/ and their links into.',
  'dir-or-file-in-opt *',
];

/**
 * Debian's modes: directories and scripts (a `#!` line) 0755, everything else 0644, native modules
 * included (they are loaded, not run), which are stripped of their symbols as dh_strip would. npm
 * packages come with whatever modes their authors' machines had.
 */
async function prepareFiles(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isSymbolicLink()) continue;
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) {
      await chmod(path, 0o755);
      continue;
    }
    if (entry.name.endsWith('.node'))
      await run('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', path]);
    const handle = await open(path, 'r');
    const start = Buffer.alloc(2);
    await handle.read(start, 0, 2, 0);
    await handle.close();
    await chmod(path, start.toString('latin1') === '#!' ? 0o755 : 0o644);
  }
}

export interface BuiltPackage {
  service: Service;
  name: string;
  version: string;
  architecture: string;
  file: string;
  packages: number;
}

/** Builds one service's .deb into `outDir` with dpkg-deb, from this checkout (built) and its node_modules. */
export async function buildDeb(service: Service, outDir: string): Promise<BuiltPackage> {
  const spec = PACKAGES[service];
  const { name } = spec;
  const version = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
  const architecture = await debianArch();
  const root = await mkdtemp(join(tmpdir(), `${name}-deb-`));
  try {
    // The gateway: its release side by side with those fleet updates add, the links current and
    // committed naming it (deploy/install.sh lays a checkout out the same way). The bridge: one tree.
    const prefix = service === 'gateway' ? '/opt/educard' : `/usr/lib/${name}`;
    const home = service === 'gateway' ? `${prefix}/releases/${version}` : prefix;
    const entryHome = service === 'gateway' ? `${prefix}/current` : prefix;
    const staged = await stageService(service, join(root, home));
    await prepareFiles(join(root, prefix));
    for (const entry of SERVICES[service].entries) await chmod(join(root, home, entry), 0o755);
    if (service === 'gateway') {
      for (const link of ['current', 'committed'])
        await symlink(`releases/${version}`, join(root, prefix, link));
    }

    await mkdir(join(root, 'lib/systemd/system'), { recursive: true });
    const units = service === 'gateway' ? [name, `${name}-rollback`] : [name];
    for (const unitName of units) {
      const unit = (await readFile(join(REPO_ROOT, 'deploy', `${unitName}.service`), 'utf8'))
        .replaceAll('@NODE@', '/usr/bin/node')
        .replaceAll('@PREFIX@', prefix);
      await writeFile(join(root, 'lib/systemd/system', `${unitName}.service`), unit);
    }
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    const command = SERVICES[service].command;
    await symlink(
      relative(join(root, 'usr/bin'), join(root, entryHome, command.entry)),
      join(root, 'usr/bin', command.name),
    );
    await mkdir(join(root, 'etc/default'), { recursive: true });
    await writeFile(join(root, 'etc/default', name), defaultsFile(service));
    if (service === 'gateway') {
      // The GPIO chips for the group gpio, and systemd feeding the board's hardware watchdog: both in
      // the vendor directories, so an administrator's own files in /etc override them.
      await mkdir(join(root, 'lib/udev/rules.d'), { recursive: true });
      await copyFile(
        join(REPO_ROOT, 'deploy/60-educard-gpio.rules'),
        join(root, 'lib/udev/rules.d/60-educard-gpio.rules'),
      );
      await mkdir(join(root, 'lib/systemd/system.conf.d'), { recursive: true });
      await copyFile(
        join(REPO_ROOT, 'deploy/educard-watchdog.conf'),
        join(root, 'lib/systemd/system.conf.d/educard-watchdog.conf'),
      );
    }

    const docs = join(root, 'usr/share/doc', name);
    await mkdir(docs, { recursive: true });
    await writeFile(join(docs, 'copyright'), copyright);
    const date = new Date(0).toUTCString().replace('GMT', '+0000');
    const changelog = `${name} (${version}) stable; urgency=medium\n\n  * Built from the educard-edge repository.\n\n -- educard-edge maintainers <dev@educard.example>  ${date}\n`;
    await writeFile(join(docs, 'changelog.gz'), gzipSync(changelog, { level: 9 }));
    await mkdir(join(root, 'usr/share/lintian/overrides'), { recursive: true });
    await writeFile(
      join(root, 'usr/share/lintian/overrides', name),
      `${[...LINTIAN_OVERRIDES, ...(service === 'gateway' ? GATEWAY_LINTIAN_OVERRIDES : [])]
        .map((line) => (line.startsWith('#') ? line : `${name}: ${line}`))
        .join('\n')}\n`,
    );

    const debian = join(root, 'DEBIAN');
    await mkdir(debian, { recursive: true });
    for (const [script, text] of Object.entries(maintainerScripts(service, prefix))) {
      await writeFile(join(debian, script), text);
      await chmod(join(debian, script), 0o755);
    }
    await writeFile(join(debian, 'conffiles'), `/etc/default/${name}\n`);
    const installedKb = Number((await run('du', ['-sk', '--exclude=DEBIAN', root])).stdout.split('\t')[0]);
    const control = [
      `Package: ${name}`,
      `Version: ${version}`,
      `Architecture: ${architecture}`,
      'Maintainer: educard-edge maintainers <dev@educard.example>',
      `Installed-Size: ${installedKb}`,
      `Depends: ${spec.depends.join(', ')}`,
      ...(spec.recommends.length ? [`Recommends: ${spec.recommends.join(', ')}`] : []),
      `Section: ${spec.section}`,
      'Priority: optional',
      'Homepage: https://github.com/educard/educard-edge',
      `Description: ${spec.summary}`,
      ...spec.description.map((line) => ` ${line}`),
    ];
    await writeFile(join(debian, 'control'), `${control.join('\n')}\n`);

    await mkdir(outDir, { recursive: true });
    const file = join(outDir, `${name}_${version}_${architecture}.deb`);
    await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, file], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return { service, name, version, architecture, file, packages: staged.packages };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
