/**
 * A process that keeps trying for one lease on a PostgreSQL store and says on stdout, one JSON line
 * each, when it takes it (`{"gained":term,"at":ms}`) and loses it: the instance that dies in the
 * failover test and bench. Run: node lease-holder.js URL LEASE HOLDER [TTL_MS]
 */
import { Lease, LeaseTable, openPostgresStore } from '@educard/cloud-bridge';

const [url, name, holder, ttl] = process.argv.slice(2);
if (!url || !name || !holder) {
  process.stderr.write('usage: lease-holder URL LEASE HOLDER [TTL_MS]\n');
  process.exit(2);
}
const store = openPostgresStore(url);
const say = (line: object) => process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);
const lease = new Lease(
  new LeaseTable(store.database),
  name,
  holder,
  { onGain: (term) => say({ gained: term }), onLoss: () => say({ lost: true }) },
  { ttlMs: ttl ? Number(ttl) : 6000 },
);
lease.start();
// The interval is unref'd (a bridge stops on its own terms): this process lives until it is killed.
setInterval(() => undefined, 60_000);
process.on('SIGTERM', () => {
  lease.stop();
  store.close();
  process.exit(0);
});
