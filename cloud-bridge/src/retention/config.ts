import { z } from 'zod';

/** Days an event is kept; `null` keeps it for ever. */
const Days = z.number().int().min(1).max(36_500).nullable();

/**
 * Rules by event type: an exact type (`gate.decision`), a family (`library.*`), or `*` for the rest.
 * The most specific rule that names a type decides.
 */
const Rules = z.record(z.string().regex(/^(\*|[a-z][a-z0-9-]*(\.[a-z0-9-]+)*(\.\*)?)$/), Days);

/** The defaults docs/privacy.md gives; a school's own rules and the district's override them type by type. */
export const DEFAULT_RETENTION_DAYS: Record<string, number | null> = {
  'gate.decision': 180,
  'venue.*': 180,
  // Counted from when the loan closed: an item's events stay while a loan of it is open.
  'library.*': 365,
  'lab.*': 90,
  'door.*': 365,
  '*': 365,
};

export const RetentionConfig = z.object({
  /** The district's rules, over the defaults. */
  days: Rules.default({}),
  /** A school's rules, over the district's. */
  schools: z.record(z.string(), Rules).default({}),
  /** Events looked at in one transaction: small, so ingest never waits long for the database. */
  batchSize: z.number().int().min(10).max(10_000).default(1000),
  /**
   * The share of the bridge's time the purge may take: after each batch it waits so long that its
   * batches take no more than this, and ingest keeps (nearly) its full rate.
   */
  purgeShare: z.number().min(0.01).max(1).default(0.08),
  /**
   * Events removed a second at most (`null`: no bound but `purgeShare`). A removal costs the
   * database more than the purge's own time shows (its pages written to the disk, which ingest's
   * next commit waits for): this keeps that cost bounded too. The default leaves headroom over
   * the 5,000/s the purge is benchmarked against.
   */
  purgeRate: z.number().int().min(100).nullable().default(5500),
  /** How often the purge runs. */
  intervalMs: z.number().int().min(1000).default(3_600_000),
  /**
   * After a pupil leaves the district, how long what is kept of them (attendance passages, loans,
   * events) stays under their id before it is anonymised.
   */
  leaverDays: z.number().int().min(0).max(36_500).default(365),
  /**
   * Days the audit log keeps an entry (3 years); `null` keeps it for ever. Its purge is itself an
   * entry, and nothing newer than it can be removed (AuditLog.purgeBefore).
   */
  auditDays: z.number().int().min(30).max(36_500).nullable().default(1095),
  /** Days a cleared alarm is kept (a year: last year's incidents beside this year's); `null` keeps it for ever. */
  alarmDays: z.number().int().min(1).max(36_500).nullable().default(365),
});
export type RetentionConfig = z.infer<typeof RetentionConfig>;
export type RetentionConfigInput = z.input<typeof RetentionConfig>;
