import type { CardEntry, EventRecord, Patron } from '@educard/terminal-sdk';
import type { StationReply } from '../types.js';
import type { LabSession } from './room.js';
import { iso, minutesLeft } from './time.js';

/** What one action came to: a change made (and journaled), or a rule's refusal. */
export type Outcome =
  | { ok: true; detail: Record<string, unknown>; record?: EventRecord }
  | { ok: false; reason: string; message: string; detail?: Record<string, unknown> };

export function refuse(reason: string, message: string, detail?: Record<string, unknown>): Outcome {
  return detail ? { ok: false, reason, message, detail } : { ok: false, reason, message };
}

export function refusal(
  reason: string,
  message: string,
  data?: Record<string, unknown>,
): { reply: StationReply; record?: EventRecord } {
  return { reply: { status: 'refused', reason, message, ...(data ? { data } : {}) } };
}

export function signInDetail(session: LabSession, now: number): Record<string, unknown> {
  return {
    action: 'signin',
    seat: session.seat,
    sessionId: session.sessionId,
    since: iso(session.since),
    until: iso(session.endsAt),
    minutesLeft: minutesLeft(now, session.endsAt),
    limitMinutes: session.limitMinutes,
    ...(session.bookedClass ? { bookedClass: session.bookedClass } : {}),
  };
}

export function patronOf(entry: CardEntry): Patron {
  return {
    personId: entry.personId,
    role: entry.role,
    ...(entry.displayName ? { displayName: entry.displayName } : {}),
    ...(entry.grade ? { grade: entry.grade } : {}),
    ...(entry.class ? { class: entry.class } : {}),
    cardStatus: entry.status,
  };
}
