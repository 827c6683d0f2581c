/**
 * A process that keeps trying for one duty on a PostgreSQL store, through the bridge's own `Duties`,
 * and says on stdout, one JSON line each, when it is running (`{"running":true,"at":ms}`, its tables
 * migrated), when it starts the duty (`{"gained":true,…}`) and when it stops it (`{"lost":true,…}`):
 * the instance that dies in the failover test and bench. Run: node lease-holder.js URL LEASE HOLDER [TTL_MS]
 */
import { Duties, LeaseTable, openPostgresStore } from '@educard/cloud-bridge';
import { pino } from 'pino';

const [url, name, holder, ttl] = process.argv.slice(2);
if (!url || !name || !holder) {
  process.stderr.write('usage: lease-holder URL LEASE HOLDER [TTL_MS]\n');
  process.exit(2);
}
const store = openPostgresStore(url);
const say = (line: object): void => {
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);
};
const duties = new Duties(
  new LeaseTable(store.database),
  [{ name, start: () => say({ gained: true }), stop: () => say({ lost: true }) }],
  { holder, group: name, ttlMs: ttl ? Number(ttl) : 6000, logger: pino({ level: 'silent' }) },
);
await duties.start();
say({ running: true });
// The interval is unref'd (a bridge stops on its own terms): this process lives until it is killed.
setInterval(() => undefined, 60_000);
process.on('SIGTERM', async () => {
  await duties.stop();
  store.close();
  process.exit(0);
});
