import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/index.js';
import type { JournalBreak } from '../journal/index.js';
import type { Gateway } from '../runtime/index.js';
import { listQuarantined } from '../storage/index.js';
import { type Check, fail, parseJson, pass, warn } from './checks.js';
import { SERVICE } from './context.js';

type Report = ReturnType<Gateway['report']>;

const COPY_OFF =
  'They are kept for inspection and never deleted by the gateway; each loss is journaled (journal.damaged) and known to the bridge (GET /v1/ops/losses). Copy them off if the vendor wants them, then remove them:';

/**
 * The storage checks: writes held or lost on a full disk, files in quarantine, and the newest loss the
 * journal explains, each with what to do. From the running gateway, or from the files when it is stopped.
 */
export async function storageChecks(config: GatewayConfig, report: Report | undefined): Promise<Check[]> {
  const { dataDir } = config;
  const storage = report?.storage ?? (await storageOnDisk(dataDir));
  const checks: Check[] = [];
  const free =
    'Free space on the device (du -sh /var/log /var/cache; journalctl --vacuum-size=50M; apt-get clean)';
  if ('diskFull' in storage && storage.diskFull) {
    checks.push(
      fail(
        'storage',
        `the journal cannot write (${storage.lastWriteError ?? 'unknown error'}): ${storage.held} of at most ${storage.maxHeld} records wait in memory${storage.lost ? `, ${storage.lost} lost` : ''}`,
        `${free}; held records are written in order as soon as the disk takes them. With space free and writes still failing the card is failing: dmesg | grep -i error, and replace it.`,
      ),
    );
  } else if ('lost' in storage && storage.lost > 0) {
    checks.push(
      warn(
        'storage',
        `${storage.lost} record(s) were lost while the disk was full (journaled as journal.damaged; the bridge knows)`,
        `${free}, or raise journal.maxHeldRecords, so that the next outage fits in memory.`,
      ),
    );
  } else if ('unsaved' in storage && storage.unsaved) {
    checks.push(
      warn(
        'storage',
        `at its last stop the gateway could not write ${storage.unsaved} record(s): the disk was full`,
        `${free}; the next start journals the loss (journal.damaged) so that the bridge knows.`,
      ),
    );
  } else {
    checks.push(pass('storage', 'the journal writes; nothing held in memory, nothing lost'));
  }
  if ('damagedNow' in storage && storage.damagedNow) {
    checks.push(
      fail(
        'journal-damage',
        `the running gateway found its journal damaged: ${storage.damagedNow}; events after it wait`,
        `sudo systemctl restart ${SERVICE}: the start moves the damaged segment to quarantine, keeps what is whole and reports the loss to the bridge.`,
      ),
    );
  }
  const quarantined = storage.quarantined;
  checks.push(
    quarantined.length === 0
      ? pass('quarantine', 'no damaged file kept aside')
      : warn(
          'quarantine',
          `${quarantined.length} damaged file(s) kept aside: ${quarantined
            .slice(-5)
            .map((q) => `${q.path} (${q.reason})`)
            .join('; ')}${quarantined.length > 5 ? '; …' : ''}`,
          `${COPY_OFF} sudo rm -r ${join(dataDir, '*', 'quarantine')} ${join(dataDir, 'quarantine')}. Damage more than once means the SD card is failing: replace it.`,
        ),
  );
  const last = storage.lastDamage;
  if (last) {
    const range =
      last.firstSeq === undefined
        ? `${last.records} record(s)`
        : `records ${last.firstSeq} to ${last.lastSeq}${last.bound ? ' (at most)' : ''}`;
    checks.push(
      warn(
        'journal-loss',
        `last loss ${last.at}: ${last.cause}, ${range}${last.file ? ` (${last.file})` : ''}: ${last.reason}`,
        last.cause === 'disk-full' || last.cause === 'unsaved-at-stop'
          ? `${free}, or raise journal.maxHeldRecords.`
          : 'The gateway went on and the bridge holds the loss as a fact; nothing to repair here. If it happens again, check the card (dmesg | grep -i error) and replace it.',
      ),
    );
  }
  return checks;
}

/** The storage as its files tell it, with the gateway stopped. */
async function storageOnDisk(dataDir: string) {
  const journal = join(dataDir, 'journal');
  const breaks = await readFile(join(journal, 'breaks.json'), 'utf8')
    .then((text) => (parseJson(text) as { breaks?: JournalBreak[] } | undefined)?.breaks ?? [])
    .catch(() => [] as JournalBreak[]);
  const unsaved = await readFile(join(journal, 'unsaved.json'), 'utf8')
    .then((text) => (parseJson(text) as { records?: number } | undefined)?.records ?? 0)
    .catch(() => 0);
  return { quarantined: await listQuarantined(dataDir), lastDamage: breaks.at(-1) ?? null, unsaved };
}
