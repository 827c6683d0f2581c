import { join } from 'node:path';
import { parseCommandLine, usageFailure } from '../command-line.js';
import { REPO_ROOT } from '../paths.js';
import { type BuiltPackage, buildDeb } from './debian.js';
import { SERVICES, type Service, stageService } from './stage.js';

const USAGE = `usage: npm run package [-- [--out DIR] [--json] [SERVICE...]]
       node scripts/dist/package/index.js stage SERVICE DIR [--no-modules]

Builds the Debian packages educard-gateway_<version>_<arch>.deb and educard-bridge_<version>_<arch>.deb
(both by default) with dpkg-deb, from this checkout once built (npm run build) and its node_modules, into
dist/ (or --out DIR). Both are for this machine's architecture: each holds native modules built here.
"stage" copies what one service runs (its workspaces, built, and its production npm packages) to DIR,
as deploy/install-gateway.sh and deploy/install-bridge.sh do; --no-modules leaves the npm packages out.

services: ${Object.keys(SERVICES).join(', ')}
exit codes: 0 ok, 1 failed, 2 bad usage
example: npm run package -- --out /tmp/debs bridge`;

const isService = (name: string): name is Service => name in SERVICES;

async function main(): Promise<number> {
  const parsed = parseCommandLine(
    {
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        'no-modules': { type: 'boolean' },
      },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals[0] === 'stage') {
    const [, service, dir] = positionals;
    if (!service || !isService(service) || !dir || positionals.length > 3) {
      return usageFailure(
        `stage needs a service (${Object.keys(SERVICES).join(' or ')}) and a directory`,
        USAGE,
      );
    }
    const staged = await stageService(service, dir, { modules: !values['no-modules'] });
    process.stdout.write(`${service} staged in ${dir} (${staged.packages} npm packages)\n`);
    return 0;
  }
  const unknown = positionals.filter((name) => !isService(name));
  if (unknown.length) return usageFailure(`unknown service: ${unknown.join(', ')}`, USAGE);
  const services = positionals.length ? (positionals as Service[]) : (Object.keys(SERVICES) as Service[]);
  const out = values.out ?? join(REPO_ROOT, 'dist');
  const built: BuiltPackage[] = [];
  for (const service of services) {
    if (!values.json) process.stderr.write(`building the ${service} package…\n`);
    built.push(await buildDeb(service, out));
  }
  process.stdout.write(
    values.json
      ? `${JSON.stringify({ packages: built }, null, 2)}\n`
      : `${built.map((p) => `${p.file} (${p.packages} npm packages)`).join('\n')}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
