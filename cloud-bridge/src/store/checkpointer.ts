import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, plain JavaScript so that it runs from sources and from the build alike. It opens
 * its own connection to the database and moves the WAL into the main file on a timer. It tells only
 * of a change: the first checkpoint that fails (a full disk fails every one until space is freed),
 * and the first that works after.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('synchronous = FULL');
let failing = false;
setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    if (failing) parentPort.postMessage({ ok: true });
    failing = false;
  } catch (error) {
    if (!failing) parentPort.postMessage({ ok: false, reason: String((error && error.message) || error) });
    failing = true;
  }
}, workerData.everyMs);
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** What the store does when the worker's checkpoints fail, and when they work again. */
export interface CheckpointWatch {
  /** The worker failed (for good), or its checkpoints started failing: the committing thread takes them. */
  failing(reason: string): void;
  /** The worker's checkpoints work again. */
  recovered(): void;
}

/**
 * Checkpoints a WAL database from a worker thread. SQLite's automatic checkpoint runs inside the
 * commit that crosses the threshold, copying pages and fsyncing the main file on the thread that
 * ingests events: measured at about a third of the cost of storing an event. Here it runs beside it.
 * The caller turns the automatic checkpoint off while this runs, back on while `failing`, and off
 * again when `recovered`.
 */
export function startCheckpointer(path: string, watch: CheckpointWatch, everyMs = 200): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, everyMs } });
  worker.unref();
  let stopping = false;
  worker.on('message', (change: { ok: boolean; reason?: string }) => {
    if (change.ok) watch.recovered();
    else watch.failing(`checkpoint failed: ${change.reason}`);
  });
  worker.on('error', (error) => watch.failing(`checkpoint worker failed: ${error.message}`));
  worker.on('exit', (code) => {
    if (!stopping) watch.failing(`checkpoint worker exited with ${code}`);
  });
  return {
    async stop() {
      stopping = true;
      await worker.terminate();
    },
  };
}
