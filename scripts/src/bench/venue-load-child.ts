// Run as a child process by the venue benchmark: a cold start that loads and verifies the hotlist from
// disk (the key sets from the roster store beside it), then reports the time it took and the resident
// memory it added.
import { createLogger, HotlistStore, RosterStore } from '@educard/gateway';

const [dir, now] = process.argv.slice(2) as [string, string];
const logger = createLogger('bench', { level: 'silent' });
const clock = () => Number(now);
const roster = await RosterStore.open({
  dir: `${dir}/roster`,
  school: 'museum',
  device: 'venue-gw',
  logger,
  now: clock,
});
const before = process.memoryUsage().rss;
const started = performance.now();
const store = await HotlistStore.open({
  dir: `${dir}/hotlist`,
  logger,
  keySets: () => roster.keySetChain,
  now: clock,
});
const loadMs = performance.now() - started;
const addedMb = (process.memoryUsage().rss - before) / 1024 / 1024;
process.stdout.write(`${JSON.stringify({ loadMs, addedMb, entries: store.view?.table.size ?? 0 })}\n`);
