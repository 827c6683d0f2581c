import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, plain JavaScript so that it runs from sources and from the build alike. It opens
 * its own connection to the database and moves the WAL into the main file on a timer.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('synchronous = FULL');
setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage(String((error && error.message) || error));
  }
}, workerData.everyMs);
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Checkpoints a WAL database from a worker thread. SQLite's automatic checkpoint runs inside the
 * commit that crosses the threshold, copying pages and fsyncing the main file on the thread that
 * ingests events: measured at about a third of the cost of storing an event. Here it runs beside it.
 * The caller turns the automatic checkpoint off while this runs, and back on from `onFailure`.
 */
export function startCheckpointer(
  path: string,
  onFailure: (reason: string) => void,
  everyMs = 200,
): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, everyMs } });
  worker.unref();
  let stopping = false;
  worker.on('message', (reason: string) => onFailure(`checkpoint failed: ${reason}`));
  worker.on('error', (error) => onFailure(`checkpoint worker failed: ${error.message}`));
  worker.on('exit', (code) => {
    if (!stopping) onFailure(`checkpoint worker exited with ${code}`);
  });
  return {
    async stop() {
      stopping = true;
      await worker.terminate();
    },
  };
}
