import { Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';

/** One receiver of parent notices: a school's SMS or messaging gateway, or the district's for every school. */
export const NoticeWebhook = z.object({
  /** The school whose pupils it hears about; every school when absent. */
  school: Identifier.optional(),
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
  /** The HMAC key both sides hold. Never logged. */
  secret: z.string().min(32, 'at least 32 characters'),
  /**
   * Also a notice for each pupil not at school by their class's cut-off on a school day (not on
   * leave): a receiver must know the `absent` kind before it is turned on.
   */
  absence: z.boolean().default(false),
  /**
   * Also a notice for each pupil refused at a gate and not let in within the debounce window (not for
   * a lockdown): a receiver must know the `refused` kind before it is turned on.
   */
  refusals: z.boolean().default(false),
  /**
   * Also a reminder, after school on a school day, to the parents of each pupil with books overdue at
   * the school's library, listing them: a receiver must know the `overdue` kind before it is turned on.
   */
  overdueBooks: z.boolean().default(false),
  /** A pupil whose books stay overdue is reminded again after this many days (sooner if another is due). */
  overdueEveryDays: z.number().int().min(1).max(28).default(7),
  /** Passages of one pupil closer than this make one notice (docs/notices.md). */
  debounceMs: z.number().int().min(0).max(3_600_000).default(120_000),
  /** How long settled notices gather before they go out in one POST. */
  batchWindowMs: z.number().int().min(0).max(600_000).default(2000),
  batchMax: z.number().int().min(1).max(1000).default(100),
  /** Attempts of one delivery before it is given up. */
  maxAttempts: z.number().int().min(1).max(100).default(10),
  /** A POST not answered by then counts as a failed attempt. */
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  backoff: z
    .object({
      initialMs: z.number().int().min(1).default(1000),
      maxMs: z.number().int().min(1).default(300_000),
    })
    .prefault({}),
});
export type NoticeWebhook = z.infer<typeof NoticeWebhook>;

export const NoticesConfig = z
  .object({
    webhooks: z.array(NoticeWebhook).max(1000).default([]),
    /** How often new passages are read, bursts settled and deliveries sent. */
    tickMs: z.number().int().min(10).max(60_000).default(500),
  })
  .superRefine((config, context) => {
    const seen = new Set<string>();
    config.webhooks.forEach((hook, index) => {
      const key = `${hook.school ?? '*'} ${hook.url}`;
      if (seen.has(key))
        context.addIssue({ code: 'custom', path: ['webhooks', index], message: 'the same webhook twice' });
      seen.add(key);
    });
  });
export type NoticesConfig = z.infer<typeof NoticesConfig>;
