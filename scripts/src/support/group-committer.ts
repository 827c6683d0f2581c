/**
 * A process that commits through the bridge's own `GroupCommit` on a PostgreSQL store, as an ingesting
 * instance does: each round one group of every device's next record, the devices pushed in the order
 * given (`forward` or `reverse`). A group that fails (a deadlock) is counted and committed again, up
 * to five failures. It says `{"failed":N,"stored":M}` on stdout at the end: the group-commit test
 * runs two at once.
 * Run: node group-committer.js URL forward|reverse DEVICES ROUNDS
 */
import { GroupCommit, openPostgresStore } from '@educard/cloud-bridge';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';

const [url, order, deviceCount, roundCount] = process.argv.slice(2);
if (!url || (order !== 'forward' && order !== 'reverse') || !deviceCount || !roundCount) {
  process.stderr.write('usage: group-committer URL forward|reverse DEVICES ROUNDS\n');
  process.exit(2);
}
const rounds = Number(roundCount);
const devices = Array.from({ length: Number(deviceCount) }, (_, i) => `gate-${String(i).padStart(3, '0')}`);
if (order === 'reverse') devices.reverse();
const now = Date.now();
const chains = new Map(
  devices.map((device) => [
    device,
    chainRecords(
      device,
      Array.from({ length: rounds }, (_, i) => ({
        type: 'gate.decision',
        at: new Date(now + i * 1000).toISOString(),
        data: gateDecisionData({ personId: `p${i % 7}` }),
      })),
    ),
  ]),
);
const store = openPostgresStore(url);
const commits = new GroupCommit(store);
let failed = 0;
let stored = 0;
// A few failed groups are enough to tell: past them the process ends rather than retry for minutes.
const GIVE_UP_AFTER = 5;
for (let round = 0; round < rounds && failed < GIVE_UP_AFTER; round++) {
  while (failed < GIVE_UP_AFTER) {
    const results = await Promise.allSettled(
      devices.map((device) =>
        commits.commit(device, 'school-1', (chains.get(device) ?? []).slice(round, round + 1)),
      ),
    );
    const lost = results.filter((result) => result.status === 'rejected').length;
    for (const result of results) if (result.status === 'fulfilled') stored += result.value.inserted;
    if (lost === 0) break;
    failed += lost;
  }
}
store.close();
process.stdout.write(`${JSON.stringify({ failed, stored })}\n`);
