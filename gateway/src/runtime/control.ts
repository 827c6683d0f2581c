import { type ControlHandler, ControlServer } from '../control/index.js';
import { type Logger, maskCardId } from '../log/index.js';
import type { Station } from '../stations/index.js';

/**
 * The gateway's control socket: its `handlers` answer the `educard` commands, and `taps.watch`
 * streams the outcome of every tap the station makes, whatever its type.
 */
export function controlServerFor(options: {
  path: string;
  logger: Logger;
  station: Station;
  handlers: Record<string, ControlHandler>;
}): ControlServer {
  const { station } = options;
  return new ControlServer({
    path: options.path,
    logger: options.logger,
    handlers: options.handlers,
    streams: {
      'taps.watch': (emit) =>
        station.events.on('tap', ({ decision, record, reader, at }) =>
          emit({
            at,
            ...(record ? { seq: record.seq } : {}),
            reader,
            card: maskCardId(decision.cardId),
            ...(decision.card ? { personId: decision.card.personId } : {}),
            decision: decision.decision,
            reason: decision.reason,
          }),
        ),
    },
  });
}
