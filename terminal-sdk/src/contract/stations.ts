import { z } from 'zod';
import { Identifier, IsoTime, SPEC_VERSION } from './common.js';
import { Role } from './roster.js';

/**
 * The contract between a gateway and the terminals on its LAN (the librarian's desk page, a lab's
 * kiosk), over the gateway's own MQTT broker. It never leaves the school: these topics are not
 * forwarded to the bridge; what matters to the central system is journaled as events.
 */
export const LOCAL_ROOT = 'educard/v1/local';

const part = (value: string, what: string) => {
  if (!value || /[/+#\s]/.test(value)) throw new TypeError(`${what} "${value}" cannot be part of a topic`);
  return value;
};

export const localTopics = {
  /** Retained: the gateway's link to the bridge and its data versions, for a page's offline indicator. */
  gatewayState: () => `${LOCAL_ROOT}/gateway/state`,
  /** Each tap at a station's readers and what the station made of it. */
  taps: (station: string) => `${LOCAL_ROOT}/stations/${part(station, 'station')}/taps`,
  /** Each tagged item (a book's ISO 15693 tag) held to a station's readers: scanned, as by a scanner. */
  items: (station: string) => `${LOCAL_ROOT}/stations/${part(station, 'station')}/items`,
  /** Terminals' requests to a station. */
  requests: (station: string) => `${LOCAL_ROOT}/stations/${part(station, 'station')}/requests`,
  /** A station's replies to one terminal, matched to requests by id. */
  replies: (station: string, terminal: string) =>
    `${LOCAL_ROOT}/stations/${part(station, 'station')}/replies/${part(terminal, 'terminal')}`,
  /** Retained: what a station's kiosk shows (a lab's seats). */
  view: (station: string) => `${LOCAL_ROOT}/stations/${part(station, 'station')}/view`,
} as const;

export const STATION_KINDS = ['gate', 'library', 'lab', 'venue'] as const;
export const StationKind = z.enum(STATION_KINDS);
export type StationKind = z.infer<typeof StationKind>;

/** A barcode as a scanner types it, or a book tag's identifier. */
export const ItemId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, ".", "_", ":" or "-"');

/**
 * A client-made id of one transaction (a checkout at the desk): a request sent twice, after a page
 * reload or a lost reply, is answered with the first outcome and never makes a second loan.
 */
export const TransactionId = z
  .string()
  .min(8)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/);

const Versioned = { v: z.literal(SPEC_VERSION) };

export const TERMINAL_REQUEST_NAMES = [
  'library.patron',
  'library.checkout',
  'library.return',
  'library.renew',
  'lab.seats',
  'lab.signin',
  'lab.signout',
] as const;

const RequestBase = { ...Versioned, id: z.string().min(1).max(64), terminal: Identifier };

export const TerminalRequest = z.discriminatedUnion('name', [
  z.object({ ...RequestBase, name: z.literal('library.patron'), args: z.object({ personId: Identifier }) }),
  z.object({
    ...RequestBase,
    name: z.literal('library.checkout'),
    args: z.object({ personId: Identifier, itemId: ItemId, txn: TransactionId }),
  }),
  z.object({
    ...RequestBase,
    name: z.literal('library.return'),
    args: z.object({ itemId: ItemId, txn: TransactionId }),
  }),
  z.object({
    ...RequestBase,
    name: z.literal('library.renew'),
    args: z.object({ personId: Identifier, itemId: ItemId, txn: TransactionId }),
  }),
  z.object({ ...RequestBase, name: z.literal('lab.seats'), args: z.object({}).optional() }),
  z.object({
    ...RequestBase,
    name: z.literal('lab.signin'),
    args: z.object({ personId: Identifier, seat: Identifier.optional(), txn: TransactionId }),
  }),
  z.object({
    ...RequestBase,
    name: z.literal('lab.signout'),
    args: z.object({ personId: Identifier, txn: TransactionId }),
  }),
]);
export type TerminalRequest = z.infer<typeof TerminalRequest>;
export type TerminalRequestName = TerminalRequest['name'];

/**
 * The answer to one request. `refused` is a rule saying no (a loan limit, a blocked patron, a class's
 * booked room), with a `reason` code a page translates and a `message` a person reads; `error` is a
 * request the station could not handle (malformed, unknown item).
 */
export const TerminalReply = z.object({
  ...Versioned,
  id: z.string().min(1).max(64),
  status: z.enum(['ok', 'refused', 'error']),
  reason: z.string().max(64).optional(),
  message: z.string().max(512).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  at: IsoTime,
});
export type TerminalReply = z.infer<typeof TerminalReply>;

/** Who tapped, as a station shows them: never the full card number. */
export const Patron = z.object({
  personId: Identifier,
  role: Role,
  displayName: z.string().max(64).optional(),
  grade: z.string().max(32).optional(),
  class: z.string().max(32).optional(),
  cardStatus: z.string().max(16),
});
export type Patron = z.infer<typeof Patron>;

/** A tap at a station, published to its terminals with what the station made of it. */
export const StationTap = z.object({
  ...Versioned,
  station: Identifier,
  kind: StationKind,
  reader: z.string().max(128),
  at: IsoTime,
  /** The card id masked to its last four characters. */
  card: z.string().max(16),
  decision: z.enum(['grant', 'deny']),
  reason: z.string().max(64),
  patron: Patron.optional(),
  /** The station's own outcome: a library's patron account, a lab's session. */
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type StationTap = z.infer<typeof StationTap>;

/**
 * A tagged item held to a station's reader: a library book's ISO 15693 tag, its UID (hex, most
 * significant byte first) as the item id. The station decides nothing: the desk's page does with it
 * what it does with a barcode its scanner typed (check out, return or renew, by its mode).
 */
export const ItemPresented = z.object({
  ...Versioned,
  station: Identifier,
  reader: z.string().max(128),
  itemId: ItemId,
  at: IsoTime,
});
export type ItemPresented = z.infer<typeof ItemPresented>;

/** What a station's kiosk shows, published retained on its view topic whenever it changes. */
export const StationView = z.object({
  ...Versioned,
  station: Identifier,
  at: IsoTime,
  view: z.record(z.string(), z.unknown()),
});
export type StationView = z.infer<typeof StationView>;

export const LocalGatewayState = z.object({
  ...Versioned,
  device: Identifier,
  school: Identifier,
  /** Whether the gateway reaches the bridge now; a station keeps working either way. */
  online: z.boolean(),
  backlog: z.number().int().nonnegative(),
  rosterVersion: z.number().int().nonnegative(),
  catalogueVersion: z.number().int().nonnegative().optional(),
  stations: z.array(z.object({ id: Identifier, kind: StationKind })),
  at: IsoTime,
});
export type LocalGatewayState = z.infer<typeof LocalGatewayState>;

/**
 * Where a library transaction was decided: our own ledger, the school's SIP2 library system, or our
 * ledger first and the library system later (`sip2-replayed`: the event again, once the system was
 * sent what the desk decided while it could not be reached).
 */
export const LoanSource = z.enum(['local', 'sip2', 'sip2-replayed']);

/**
 * On a `sip2-replayed` event: which locally decided event it settles and what the library system
 * made of it. It repeats that event's data (and its `at`, the moment of the transaction); it is not a
 * second transaction.
 */
export const LibraryReplay = z.object({
  /** The locally decided event it settles: `<device>:<seq>`. */
  of: z.string().min(1).max(160),
  /** When the library system was sent it. */
  at: IsoTime,
  /** The system had it already (the desk's own request reached it, its answer did not): not sent again. */
  already: z.boolean().optional(),
  /**
   * The system refused it even as an offline (no-block) transaction, e.g. an item it has on loan to
   * someone else: the desk's loan and the system disagree until a librarian settles it.
   */
  refused: z.boolean().optional(),
  /** The refusal's code (the station's refusal codes). */
  reason: z.string().max(64).optional(),
  /** The system's screen message. */
  message: z.string().max(512).optional(),
});
export type LibraryReplay = z.infer<typeof LibraryReplay>;

export const LibraryCheckoutData = z.object({
  station: Identifier,
  /** Unique per loan: `<device>:<txn>`, so a replayed or resent checkout is recognised. */
  loanId: z.string().min(1).max(128),
  personId: Identifier,
  cardId: z.string().max(64).optional(),
  itemId: ItemId,
  dueAt: IsoTime,
  source: LoanSource,
  /** The desk's transaction id. */
  txn: TransactionId.optional(),
  replay: LibraryReplay.optional(),
});
export const LibraryReturnData = z.object({
  station: Identifier,
  loanId: z.string().min(1).max(128).optional(),
  itemId: ItemId,
  personId: Identifier.optional(),
  /** Days past the due date, when it was late. */
  overdueDays: z.number().int().nonnegative().optional(),
  source: LoanSource,
  txn: TransactionId.optional(),
  replay: LibraryReplay.optional(),
});
export const LibraryRenewData = z.object({
  station: Identifier,
  /** Absent when the library system renewed a loan this gateway did not make (nor knew of). */
  loanId: z.string().min(1).max(128).optional(),
  personId: Identifier,
  itemId: ItemId,
  dueAt: IsoTime,
  /** The loan's renewals through this gateway, this one included; absent like `loanId`. */
  renewals: z.number().int().positive().optional(),
  source: LoanSource,
  txn: TransactionId.optional(),
  replay: LibraryReplay.optional(),
});
export const LabSignInData = z.object({
  station: Identifier,
  sessionId: z.string().min(1).max(128),
  personId: Identifier,
  cardId: z.string().max(64).optional(),
  seat: Identifier,
  /** The most the session may last, by the person's role. */
  limitMinutes: z.number().int().positive(),
  /** The class whose booked lesson this sign-in falls in. */
  bookedClass: z.string().max(32).optional(),
});
export const LabSignOutData = z.object({
  station: Identifier,
  sessionId: z.string().min(1).max(128),
  personId: Identifier,
  seat: Identifier,
  minutes: z.number().int().nonnegative(),
  /**
   * A second tap, a terminal, the session limit, everyone signed out at closing time, or the person's
   * card transferred to another school (their session here ends).
   */
  reason: z.enum(['tap', 'terminal', 'limit', 'closing', 'transferred']),
});
export const LabBookingData = z.object({
  station: Identifier,
  bookingId: z.string().min(1).max(128),
  teacherPersonId: Identifier,
  class: z.string().max(32),
  from: IsoTime,
  until: IsoTime,
});
