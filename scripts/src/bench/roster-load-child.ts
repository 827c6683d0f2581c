// Run as a child process by the gateway benchmark: a cold start that loads and verifies a roster from
// disk, then reports the time it took and the resident memory after it.
import { createLogger, RosterStore } from '@educard/gateway';
import { benchClock } from './roster-fixture.js';

const [dir, school, device] = process.argv.slice(2) as [string, string, string];
const started = performance.now();
const store = await RosterStore.open({
  dir,
  school,
  device,
  logger: createLogger('bench', { level: 'silent' }),
  now: benchClock,
});
const loadMs = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ loadMs, rssMb: process.memoryUsage().rss / 1024 / 1024, cards: store.view?.size ?? 0 })}\n`,
);
