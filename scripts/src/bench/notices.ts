import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attendance, Directory, Notices, NoticesConfig, openSqliteStore } from '@educard/cloud-bridge';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { atMost, type BenchResult, info, median, percentile } from './report.js';

const SCHOOLS = 1000;
/** A district's morning rush: 300 passages a second, over the default round of 500 ms. */
const PASSAGES_PER_ROUND = 150;
const ROUNDS = 40;

/**
 * `notices.round_ms`: one round of parent notices (every webhook's step) for a district whose 1,000
 * schools each have their own webhook (refusals on), during the morning rush, on the bridge's SQLite
 * store on disk (fsync on). A round runs on the bridge's event loop, every 500 ms: what it takes is
 * what ingest waits. Nothing settles within the run (the debounce is two minutes), so no POST goes out.
 */
export async function noticesBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-notices-'));
  const logger = pino({ level: 'silent' });
  const store = openSqliteStore(join(dir, 'bridge.db'));
  try {
    const directory = new Directory(store.database);
    new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai' });
    let now = Date.now();
    const config = NoticesConfig.parse({
      webhooks: Array.from({ length: SCHOOLS }, (_, s) => ({
        school: `school-${s}`,
        url: `http://127.0.0.1:9/school-${s}`,
        secret: 'bench-secret-0123456789abcdef0123456789',
        refusals: true,
      })),
    });
    const notices = new Notices({ store, directory, config, logger, now: () => now });
    const times: number[] = [];
    let passage = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < PASSAGES_PER_ROUND; k++, passage++) {
        const school = passage % SCHOOLS;
        const device = `gate-${school}`;
        const tap = {
          type: 'gate.decision',
          at: new Date(now).toISOString(),
          data: gateDecisionData({ personId: `p-${school}-${passage}` }),
        };
        store.commitRecords(device, `school-${school}`, chainRecords(device, [tap], store.cursor(device)));
      }
      now += 500;
      const began = performance.now();
      notices.tick();
      times.push(performance.now() - began);
    }
    await notices.stop();
    return [
      atMost('notices.round_ms', percentile(times, 99), 'ms', 100),
      info('notices.round_median_ms', median(times), 'ms'),
    ];
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
