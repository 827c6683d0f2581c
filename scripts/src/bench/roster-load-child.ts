// Run as a child process by the gateway benchmark: a cold start that loads and verifies a roster from
// disk, then reports the time it took and the resident memory after it. It loads what the gateway
// service (gateway/dist/main.js) loads before its roster opens, and nothing else: its command line,
// its systemd notice and the runtime, which imports a station type's own modules only when configured
// (runtime/stations.ts), so a gate loads none of a library desk's. No bench or test fixture is loaded
// here: the parent passes the clock.
import '@educard/terminal-sdk/cli';
import '@educard/terminal-sdk/systemd';
import '@educard/gateway/runtime';
import { createLogger } from '@educard/gateway/log';
import { RosterStore } from '@educard/gateway/roster';

const [dir, school, device, now] = process.argv.slice(2) as [string, string, string, string];
const started = performance.now();
const store = await RosterStore.open({
  dir,
  school,
  device,
  logger: createLogger('bench', { level: 'silent' }),
  now: () => Number(now),
});
const loadMs = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ loadMs, rssMb: process.memoryUsage().rss / 1024 / 1024, cards: store.view?.size ?? 0 })}\n`,
);
