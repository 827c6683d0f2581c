import { PERSONAL_READS } from '@educard/cloud-bridge';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { ADMIN, inProcessBridge } from './bridge-process.js';
import { atLeast, type BenchResult, info, median } from './report.js';

const ROUTE = '/v1/events';
const ROUNDS = 9;
const ROUND_MS = 3000;
const CONCURRENCY = 4;
const EVENTS = 2000;

/** Requests a second that `CONCURRENCY` clients, each one request at a time, get answered for `ms`. */
async function readRate(url: string, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let answered = 0;
  const client = async () => {
    while (performance.now() < until) {
      const response = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` } });
      if (response.status !== 200) throw new Error(`${ROUTE} answered ${response.status}`);
      await response.arrayBuffer();
      answered += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  return answered / ((performance.now() - started) / 1000);
}

/**
 * The cost of auditing reads: a pupil's events (`GET /v1/events?person=…`, 20 of them an answer)
 * read by 4 clients at once, each answer an audit entry (gathered and written in batches), against
 * the same route with its entry taken out of PERSONAL_READS (no audit), in alternating rounds of one
 * bridge in this process. The ratio is the median audited rate over the median unaudited one.
 */
export async function readAuditBench(): Promise<BenchResult[]> {
  const { bridge, stop } = await inProcessBridge('reads');
  const audited = PERSONAL_READS[ROUTE];
  if (!audited) throw new Error(`${ROUTE} is not a personal read`);
  try {
    const records = chainRecords(
      'gate-1',
      Array.from({ length: EVENTS }, (_, i) => ({
        type: 'gate.decision',
        at: new Date(Date.now() - (EVENTS - i) * 1000).toISOString(),
        data: gateDecisionData({ personId: `p${i % 50}` }),
      })),
    );
    bridge.store.commitRecords('gate-1', 'school-1', records);
    const url = `${bridge.httpUrl}${ROUTE}?school=school-1&person=p7&limit=20`;
    const on: number[] = [];
    const off: number[] = [];
    await readRate(url, 1000);
    for (let round = 0; round < ROUNDS; round++) {
      on.push(await readRate(url, ROUND_MS));
      delete PERSONAL_READS[ROUTE];
      try {
        off.push(await readRate(url, ROUND_MS));
      } finally {
        PERSONAL_READS[ROUTE] = audited;
      }
    }
    bridge.reads.flush();
    const entries = bridge.audit.query({ action: 'read.events', limit: 1 });
    if (entries.length === 0) throw new Error('the audited rounds wrote no read.events entry');
    return [
      info('bridge.audit.read_rate_audited_per_s', median(on), 'requests/s'),
      info('bridge.audit.read_rate_unaudited_per_s', median(off), 'requests/s'),
      atLeast('bridge.audit.read_overhead_ratio', median(on) / median(off), 'ratio', 0.9),
    ];
  } finally {
    PERSONAL_READS[ROUTE] = audited;
    await stop();
  }
}
