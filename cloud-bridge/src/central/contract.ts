import {
  Calendar,
  CardStatus,
  Credential,
  Identifier,
  IsoDate,
  IsoTime,
  Sha256Hex,
} from '@educard/terminal-sdk';
import { z } from 'zod';
import { DirectoryClass, DirectoryPerson, DirectorySchool, type LeaveRecord } from '../directory/index.js';

/**
 * The code side of docs/central-api.yaml: what the central student-record system sends and takes.
 * Keep the two in step. Directory records reuse the directory's own schemas, cards the roster's
 * credential, so a record the contract accepts is one the bridge can store as it is.
 */

const ChangeId = z.string().min(1).max(128);

export const FeedSchool = DirectorySchool.extend({
  kind: z.literal('school'),
  changeId: ChangeId,
  /** The school's calendar; when given it goes into the roster settings its gateways follow. */
  calendar: Calendar.optional(),
});

export const FeedClass = DirectoryClass.extend({ kind: z.literal('class'), changeId: ChangeId });

/**
 * On a record that moves its person to another school (a transfer): the first day the pupil is the new
 * school's, for attendance. Today or earlier, by the new school's calendar; today when absent.
 */
const TransferDate = IsoDate.optional();

export const FeedPerson = DirectoryPerson.extend({
  kind: z.literal('person'),
  changeId: ChangeId,
  transferDate: TransferDate,
}).refine((person) => person.role !== 'student' || person.studentNumber !== undefined, {
  message: 'a student needs a student-status number',
  path: ['studentNumber'],
});

export const FeedCard = z.object({
  kind: z.literal('card'),
  changeId: ChangeId,
  cardId: Identifier,
  personId: Identifier,
  /**
   * The school whose roster the card belongs on: its person's, which it may name. A card naming
   * another school than its person's moves the person there too (a transfer), unless a person record
   * of the same page puts them elsewhere (then the card is refused).
   */
  school: Identifier.optional(),
  transferDate: TransferDate,
  credential: Credential,
  status: CardStatus,
  validFrom: IsoTime,
  validUntil: IsoTime,
  zones: z.array(Identifier).max(64),
  schedules: z.array(Identifier).max(16),
});

/** A leave's own kind (sick, personal…) is `leaveKind` on the wire, since `kind` names the record's kind. */
export const FeedLeave = z
  .object({
    kind: z.literal('leave'),
    changeId: ChangeId,
    id: Identifier,
    personId: Identifier,
    school: Identifier,
    from: IsoDate,
    to: IsoDate,
    leaveKind: z.enum(['sick', 'personal', 'school-activity', 'other']),
    cancelled: z.boolean().default(false),
  })
  .refine((leave) => leave.from <= leave.to, {
    message: 'a leave must not end before it starts',
    path: ['to'],
  });

/**
 * A card revoked or restored at the card centre, of this district or any other: it goes into the
 * district's hotlist, which venues check every card against (docs/hotlist.md). `active` takes it off.
 */
export const FeedHotlist = z.object({
  kind: z.literal('hotlist'),
  changeId: ChangeId,
  cardId: Identifier,
  status: z.enum(['active', 'lost', 'cancelled', 'suspended']),
});

/** One record of the change feed. */
export const ChangeRecord = z.discriminatedUnion('kind', [
  FeedSchool,
  FeedClass,
  FeedPerson,
  FeedCard,
  FeedLeave,
  FeedHotlist,
]);
export type ChangeRecord = z.infer<typeof ChangeRecord>;
export type FeedSchool = z.infer<typeof FeedSchool>;
export type FeedPerson = z.infer<typeof FeedPerson>;
export type FeedCard = z.infer<typeof FeedCard>;

/** A leave record of the feed as the directory stores it. */
export function leaveOf(change: Extract<ChangeRecord, { kind: 'leave' }>): LeaveRecord {
  return {
    id: change.id,
    personId: change.personId,
    school: change.school,
    from: change.from,
    to: change.to,
    kind: change.leaveKind,
    cancelled: change.cancelled,
  };
}

export const CHANGE_KINDS = ['school', 'class', 'person', 'card', 'leave', 'hotlist'] as const;

/** A page of the feed. Records are checked one by one (ChangeRecord), so one bad record spoils nothing else. */
export const ChangePage = z.object({
  /** Opaque: the `since` of the next page. */
  cursor: z.string().min(1).max(512),
  hasMore: z.boolean(),
  records: z.array(z.unknown()).max(100_000),
});
export type ChangePage = z.infer<typeof ChangePage>;

export const FeedProblem = z.object({
  changeId: z.string().max(128),
  kind: z.string().max(32),
  id: z.string().max(128).optional(),
  problem: z.string().max(2000),
});
export type FeedProblem = z.infer<typeof FeedProblem>;

export const FeedReport = z.object({
  cursor: z.string().min(1).max(512),
  problems: z.array(FeedProblem).min(1).max(100_000),
});
export type FeedReport = z.infer<typeof FeedReport>;

/**
 * A visit to a venue (a museum, a social-practice base) for the pupil's growth record: made from a
 * `venue.visit` event that is not a re-entry. The card is the pupil's by its number; `personId` and
 * `studentNumber` are there when the card is on one of this district's rosters (`routing: district`),
 * and absent for a card of another district, which the central system routes by `cardId`
 * (`routing: forward`). The central system dedupes by `id`, the event's `device:seq`.
 */
export const GrowthVisit = z.object({
  kind: z.literal('venue-visit'),
  id: z.string().min(3).max(160),
  /** The venue's site (the school id its gateways are enrolled in) and the venue (its station). */
  site: Identifier,
  venue: Identifier,
  day: IsoDate,
  enteredAt: IsoTime,
  cardId: Identifier,
  /** The key id of the card's certificate issuer. */
  issuer: z.string().regex(/^[0-9a-f]{16}$/),
  /** The class visit the pupil came with, and whether this card is the teacher's who admitted it. */
  booking: Identifier.optional(),
  teacher: z.boolean().optional(),
  routing: z.enum(['district', 'forward']),
  personId: Identifier.optional(),
  studentNumber: z.string().max(32).optional(),
  school: Identifier.optional(),
  role: z.enum(['student', 'teacher', 'staff']).optional(),
});
export type GrowthVisit = z.infer<typeof GrowthVisit>;

export const PushedEvent = z.object({
  school: Identifier,
  device: Identifier,
  /**
   * The device's epoch: 1, and one more each time the id is enrolled again with a new key, whose events
   * start again at seq 1. (device, epoch, seq) is unique; an event without it is of epoch 1.
   */
  epoch: z.number().int().positive().optional(),
  seq: z.number().int().positive(),
  /** The event's time as the device recorded it. */
  at: IsoTime,
  type: z.string().min(1).max(64),
  personId: Identifier.optional(),
  data: z.record(z.string(), z.unknown()),
  /** The record's chain hash: the central system may check it against the device's history. */
  hash: Sha256Hex,
  /** What the event adds to a pupil's growth record, for the event types that add to it. */
  growthRecord: GrowthVisit.optional(),
});
export type PushedEvent = z.infer<typeof PushedEvent>;

export const EventBatchBody = z.object({
  batchId: z.string().min(1).max(128),
  events: z.array(PushedEvent).min(1).max(10_000),
});
export type EventBatchBody = z.infer<typeof EventBatchBody>;

export const EventBatchAnswer = z.object({
  accepted: z.number().int().nonnegative(),
  rejected: z
    .array(
      z.object({
        device: Identifier,
        epoch: z.number().int().positive().optional(),
        seq: z.number().int().positive(),
        reason: z.string().max(2000),
      }),
    )
    .default([]),
});
export type EventBatchAnswer = z.infer<typeof EventBatchAnswer>;

/**
 * The reason the central system gives for the events of a device that follow one it rejected in the
 * same batch: it takes a device's events in order only. The bridge sends those again and counts no
 * attempt against them.
 */
export const HELD_REASON = 'held';
