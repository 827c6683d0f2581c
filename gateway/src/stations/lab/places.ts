import type { Logger } from '../../log/index.js';
import type { LabConfig } from './config.js';

/** Where a reader is in the room: at a seat, or at the door. */
export type Place = { seat: string } | 'door';

/** The room's readers: each at a seat its pattern names, at the door, or nowhere (ignored, with one warning). */
export class LabPlaces {
  private readonly known = new Map<string, Place | undefined>();
  private readonly seats: { id: string; pattern: RegExp }[];
  private readonly door: RegExp[] | undefined;

  constructor(
    private readonly config: LabConfig,
    private readonly logger: Logger,
  ) {
    this.seats = config.seats.flatMap((seat) =>
      seat.reader ? [{ id: seat.id, pattern: new RegExp(seat.reader) }] : [],
    );
    this.door = config.doorReaders?.map((pattern) => new RegExp(pattern));
  }

  /** A seat's reader, a door reader (by default every reader no seat claims), or nothing. */
  of(reader: string): Place | undefined {
    if (this.known.has(reader)) return this.known.get(reader);
    const seat = this.seats.find((s) => s.pattern.test(reader));
    const place: Place | undefined = seat
      ? { seat: seat.id }
      : !this.door || this.door.some((p) => p.test(reader))
        ? 'door'
        : undefined;
    if (!place)
      this.logger.warn({ station: this.config.id, reader }, 'reader is neither a seat nor the door: ignored');
    this.known.set(reader, place);
    return place;
  }
}
