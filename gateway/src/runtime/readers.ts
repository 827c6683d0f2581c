import type { Direction, EventBody, EventRecord } from '@educard/terminal-sdk';
import type { GatewayConfig } from '../config/index.js';
import type { Journal } from '../journal/index.js';
import type { Logger } from '../log/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import {
  type CardPresented,
  PcscReaderDriver,
  type ReaderDriver,
  SimulatedReaderDriver,
} from '../readers/index.js';
import type { Station } from '../stations/index.js';

/** A reader's fault is journaled once a minute at most, not once a poll. */
const FAULT_JOURNAL_EVERY_MS = 60_000;

export interface ReaderWiring {
  config: GatewayConfig;
  readers: ReaderDriver;
  station: Station;
  journal: Journal;
  metrics: GatewayMetrics;
  logger: Logger;
  record(event: Omit<EventBody, 'at' | 'clock'>): EventRecord;
  now(): number;
  stopping(): boolean;
}

/**
 * Binds the readers to the station: a reader is bound by the first pattern of `readers.bindings`
 * that names it (its direction), its cards and tagged items go to the station, its comings, goings
 * and faults are journaled. Returns the direction of each reader seen (undefined: no binding).
 */
export function wireReaders(wiring: ReaderWiring): ReadonlyMap<string, Direction | undefined> {
  const { config, readers, station, journal, metrics, logger, record } = wiring;
  const bindings = config.readers.bindings.map((b) => ({
    pattern: new RegExp(b.pattern),
    direction: b.direction,
  }));
  const directionOf = new Map<string, Direction | undefined>();
  const faultJournaledAt = new Map<string, number>();
  readers.events.on('reader-added', ({ reader }) => {
    const binding = bindings.find((b) => b.pattern.test(reader));
    directionOf.set(reader, binding?.direction);
    if (!binding) {
      logger.warn({ reader }, 'reader matches no binding; its cards are ignored');
      return;
    }
    logger.info({ reader, direction: binding.direction }, 'reader bound');
    // Journaled at start too: a reader unplugged before a restart is back, and the bridge clears
    // its alarm, though this run never saw it go.
    record({ type: 'reader.connected', data: { reader } });
  });
  readers.events.on('reader-removed', ({ reader }) => {
    const bound = directionOf.get(reader) !== undefined;
    directionOf.delete(reader);
    if (wiring.stopping()) logger.info({ reader }, 'reader released');
    else {
      logger.warn({ reader }, 'reader removed');
      if (bound) record({ type: 'reader.lost', data: { reader } });
    }
  });
  readers.events.on('error', ({ reader, message }) => {
    logger.error({ reader, message }, 'reader error');
    metrics.readerError();
    const key = `${reader ?? ''}\0${message}`;
    const now = performance.now();
    if (now - (faultJournaledAt.get(key) ?? Number.NEGATIVE_INFINITY) < FAULT_JOURNAL_EVERY_MS) return;
    faultJournaledAt.set(key, now);
    record({ type: 'reader.fault', data: { ...(reader ? { reader } : {}), message: message.slice(0, 512) } });
  });
  readers.events.on('card', (card: CardPresented) => {
    const direction = directionOf.get(card.reader);
    if (direction === undefined) return;
    const outcome = station.tap(card, { name: card.reader, direction });
    if (!outcome) return;
    const { decision, reason } = outcome.decision;
    metrics.tap(decision, reason, (outcome.actedAt - card.detectedAt) / 1000);
    if (!outcome.record) return;
    const { seq } = outcome.record;
    journal.durable(seq).then(
      () => logger.debug({ seq }, 'tap durable'),
      // The journal logs a disk that takes no writes once, and counts what it holds and loses.
      (error: unknown) => logger.debug({ seq, err: (error as Error).message }, 'tap not yet durable'),
    );
  });
  // A book's tag: at a library desk, what its scanner would have typed; nothing anywhere else.
  readers.events.on('item', ({ reader, itemId }) => {
    if (directionOf.get(reader) === undefined) return;
    const at = new Date(wiring.now()).toISOString();
    if (!station.item?.(reader, itemId, at))
      logger.info({ reader, itemId }, 'tagged item ignored: only a library desk takes one');
  });
  return directionOf;
}

export function readerDriverFor(config: GatewayConfig, logger: Logger): ReaderDriver {
  const { readers } = config;
  return readers.driver === 'pcsc'
    ? new PcscReaderDriver({
        logger: logger.child({ component: 'pcsc' }),
        ...readers.pcsc,
        // A venue has no roster to tell a UID copy of a CPU card by: it remembers genuine cards' UIDs.
        cpuCardUid: config.station.type === 'venue',
      })
    : new SimulatedReaderDriver(readers.simulated, logger);
}
