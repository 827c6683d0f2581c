import { parseCommandLine, usageFailure } from '../command-line.js';
import { centralAttendanceBench } from './central-attendance.js';
import { centralPushBench } from './central-push.js';
import { centralTransferBench } from './central-transfer.js';
import { failoverBench } from './failover.js';
import { fleetBench, fleetRolloutBench, fleetSwitchBench } from './fleet.js';
import { gatewayBench } from './gateway.js';
import { libraryBench } from './library.js';
import { noticesBench } from './notices.js';
import { gatewayPiBench } from './pi.js';
import { privacyBench } from './privacy.js';
import { readAuditBench } from './privacy-reads.js';
import { readersBench } from './readers.js';
import { type BenchResult, printTable, saveResults } from './report.js';
import { districtBench, scaleBench, scaleIngestFigures } from './scale.js';
import { securityBench } from './security.js';
import { stationsBench } from './stations.js';
import { storeBench } from './store.js';
import { uplinkBench } from './uplink.js';
import { venueBench } from './venue.js';

const GROUPS: Record<string, () => Promise<BenchResult[]>> = {
  gateway: gatewayBench,
  uplink: uplinkBench,
  readers: readersBench,
  stations: stationsBench,
  central: async () => [
    ...(await centralAttendanceBench()),
    ...(await centralPushBench()),
    ...(await centralTransferBench()),
  ],
  security: securityBench,
  fleet: fleetBench,
  venue: venueBench,
  library: libraryBench,
  scale: scaleBench,
  privacy: async () => [...(await readAuditBench()), ...(await privacyBench())],
  notices: noticesBench,
};

/** Parts of the groups above, run alone only when named (a run of every group has them already). */
const PARTS: Record<string, () => Promise<BenchResult[]>> = {
  // The fleet group's two halves: one gateway's switch; the 1,000-device rollout.
  'fleet-switch': fleetSwitchBench,
  'fleet-rollout': fleetRolloutBench,
  // The scale group's two-instance ingest figure, beside the one-bridge one.
  'scale-ingest': scaleIngestFigures,
  // The scale group's PostgreSQL store, without the district.
  store: storeBench,
  // The scale group's failover between two bridge instances.
  'scale-failover': failoverBench,
  // The scale group's simulated district (scale.devices_connected).
  'scale-district': districtBench,
};
const RUNNABLE = { ...GROUPS, ...PARTS };

const USAGE = `usage: npm run bench [-- GROUP...] [--pi]

Runs the benchmark groups (all when none is named), prints figure and target side by side and
writes bench-results.json at the repository root.

groups: ${Object.keys(GROUPS).join(', ')}\nparts:  ${Object.keys(PARTS).join(', ')} (run only when named)
--pi    run the gateway group inside a cgroup of 25 % of one core and 512 MB (a Raspberry-class
        stand-in; root and cgroup v1 needed), on a 10,000-card roster, ids ending .pi
example: npm run bench -- gateway
         npm run bench -- gateway --pi`;

async function main(): Promise<number> {
  const parsed = parseCommandLine(
    {
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' }, pi: { type: 'boolean' } },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const unknown = parsed.positionals.filter((name) => !(name in RUNNABLE));
  if (unknown.length) return usageFailure(`unknown benchmark group: ${unknown.join(', ')}`, USAGE);
  if (parsed.values.pi && parsed.positionals.length && !parsed.positionals.includes('gateway'))
    return usageFailure('--pi applies to the gateway group only', USAGE);
  const names = parsed.positionals.length ? parsed.positionals : Object.keys(GROUPS);
  const all: BenchResult[] = [];
  for (const name of names) {
    const results =
      name === 'gateway' && parsed.values.pi
        ? await gatewayPiBench()
        : await (RUNNABLE[name] as () => Promise<BenchResult[]>)();
    printTable(name, results);
    all.push(...results);
  }
  const path = await saveResults(all);
  const missed = all.filter((r) => !r.meets);
  process.stdout.write(`\n${all.length - missed.length}/${all.length} targets met; figures in ${path}\n`);
  return 0;
}

process.exitCode = await main();
