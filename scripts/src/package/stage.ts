import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { REPO_ROOT } from '../paths.js';

/** The two things a host runs, each with the workspaces it needs. */
export const SERVICES = {
  gateway: {
    workspaces: ['terminal-sdk', 'gateway'],
    /** The command technicians type, and what it runs. */
    command: { name: 'educard', entry: 'gateway/dist/cli/main.js' },
    entries: ['gateway/dist/cli/main.js', 'gateway/dist/main.js'],
  },
  bridge: {
    workspaces: ['terminal-sdk', 'cloud-bridge'],
    command: { name: 'educard-bridge', entry: 'cloud-bridge/dist/cli/main.js' },
    entries: ['cloud-bridge/dist/cli/main.js'],
  },
} as const;
export type Service = keyof typeof SERVICES;

interface LockEntry {
  version?: string;
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** Where a package at `location` looks next for its dependencies, as Node resolves them. */
function parentOf(location: string): string | undefined {
  if (location === '') return undefined;
  const nested = location.lastIndexOf('/node_modules/');
  return nested >= 0 ? location.slice(0, nested) : '';
}

/**
 * The locations (package-lock.json's keys) of every package the workspaces need at run time: their
 * dependencies and optional dependencies, and those of each package in turn, found the way Node finds
 * them (the nearest node_modules up the tree). Development tools are not reached, so they are left out.
 * Optional packages not installed here (another platform's binaries) are skipped.
 */
export async function productionPackages(workspaces: readonly string[], root = REPO_ROOT): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const { packages } = lock;
  const found = new Set<string>();
  const resolve = (from: string, name: string): string | undefined => {
    for (let at: string | undefined = from; at !== undefined; at = parentOf(at)) {
      const candidate = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (packages[candidate]) return candidate;
    }
    return undefined;
  };
  const visit = (location: string): void => {
    const entry = packages[location];
    if (!entry || found.has(location)) return;
    found.add(location);
    // A workspace linked into node_modules is staged as a workspace; its dependencies count from there.
    if (entry.link) {
      visit(entry.resolved as string);
      return;
    }
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}).map((name) => ({ name, optional: false })),
      ...Object.keys(entry.optionalDependencies ?? {}).map((name) => ({ name, optional: true })),
      ...Object.keys(entry.peerDependencies ?? {}).map((name) => ({
        name,
        optional: optionalPeers[name]?.optional === true,
      })),
    ];
    for (const { name, optional } of wanted) {
      const target = resolve(location, name);
      if (target && existsSync(join(root, target))) visit(target);
      else if (!optional)
        throw new Error(`${name}, needed by ${location || 'the root'}, is not installed: run npm ci`);
    }
  };
  for (const workspace of workspaces) visit(workspace);
  return [...found].filter((location) => location.includes('node_modules/')).sort();
}

/**
 * What a package carries that nothing loads at run time: node-gyp's leftovers, native builds for other
 * platforms (node-gyp-build loads the one built here first), test suites and linter settings.
 */
const NOT_RUN = new RegExp(
  [
    String.raw`/(obj\.target|\.deps)(/|$)`,
    String.raw`\.(o|a|mk)$|/build/Makefile$|/test_extension\.node$`,
    '/(test|tests|__tests__|integration|benchmarks)(/|$)',
    String.raw`/\.(eslintrc[^/]*|npmignore|gitattributes|gitignore|gitmodules|travis\.yml)$|~$`,
    // Pages of a package's own web site, not of ours.
    String.raw`\.html$`,
    `/prebuilds/(?!linux-${process.arch}(/|$))[^/]+|/prebuilds/[^/]+/[^/]*musl[^/]*$`,
  ].join('|'),
);

/**
 * The root package.json of a service's tree (a Debian package's, an installed gateway's or bridge's, a
 * gateway release's): the checkout's, trimmed to the service's workspaces. It keeps the checkout's
 * `allowScripts`, the dependencies whose install scripts were reviewed: npm 12 runs no other
 * dependency's, so an `npm install` or `npm rebuild` there would leave the native modules unbuilt.
 */
export async function servicePackageJson(checkout: string, workspaces: readonly string[]): Promise<string> {
  const root = JSON.parse(await readFile(join(checkout, 'package.json'), 'utf8'));
  const trimmed = {
    name: root.name,
    version: root.version,
    private: true,
    type: root.type,
    license: root.license,
    engines: root.engines,
    workspaces,
    allowScripts: root.allowScripts,
  };
  return `${JSON.stringify(trimmed, null, 2)}\n`;
}

/**
 * Copies what a service runs into `target`, laid out as npm would install it: the root package.json
 * trimmed to the service's workspaces, each workspace's package.json and dist/, the lockfile, docs/ and
 * deploy/, and the production packages from this checkout's node_modules (built for this machine).
 * Workspaces are linked into node_modules as npm links them. Returns the packages copied.
 */
export async function stageService(
  service: Service,
  target: string,
  options: { modules: boolean } = { modules: true },
): Promise<{ packages: number }> {
  const { workspaces, entries } = SERVICES[service];
  for (const entry of entries)
    if (!existsSync(join(REPO_ROOT, entry)))
      throw new Error(`${entry} is missing: build first (npm run build)`);
  await mkdir(target, { recursive: true });
  await writeFile(join(target, 'package.json'), await servicePackageJson(REPO_ROOT, workspaces));
  for (const path of ['package-lock.json', 'docs', 'deploy'])
    await cp(join(REPO_ROOT, path), join(target, path), { recursive: true });
  for (const workspace of workspaces) {
    await rm(join(target, workspace, 'dist'), { recursive: true, force: true });
    await mkdir(join(target, workspace), { recursive: true });
    for (const path of ['package.json', 'dist'])
      await cp(join(REPO_ROOT, workspace, path), join(target, workspace, path), {
        recursive: true,
        filter: (source) => !source.endsWith('.tsbuildinfo'),
      });
  }
  if (!options.modules) return { packages: 0 };
  const locations = await productionPackages(workspaces);
  await rm(join(target, 'node_modules'), { recursive: true, force: true });
  for (const workspace of workspaces)
    await rm(join(target, workspace, 'node_modules'), { recursive: true, force: true });
  const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  for (const location of locations) {
    const entry = lock.packages[location] as LockEntry;
    const to = join(target, location);
    await mkdir(dirname(to), { recursive: true });
    if (entry.link) {
      await symlink(relative(dirname(to), join(target, entry.resolved as string)), to);
      continue;
    }
    const from = join(REPO_ROOT, location);
    await cp(from, to, {
      recursive: true,
      // Nested node_modules are packages of their own: copied when the closure holds them.
      filter: (source) => {
        const inside = relative(from, source);
        return !inside.startsWith('node_modules') && !NOT_RUN.test(`/${inside}`);
      },
    });
  }
  return { packages: locations.length };
}
