/** The one method of a pino logger the listeners use. */
export interface WarnLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Counts refusals by reason, and writes them to the log at most once per `intervalMs`: a flood of
 * connections (or of sign-ins) makes one line every few seconds, not one per attempt.
 */
export class RefusalCounter {
  readonly counts: Record<string, number> = {};
  private recent: Record<string, number> = {};
  private lastLogged = 0;

  constructor(
    private readonly logger: WarnLogger,
    private readonly listener: string,
    private readonly message = 'connections refused over the listener limits',
    private readonly intervalMs = 10_000,
  ) {}

  count(reason: string, address: string | undefined, detail?: string): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    this.recent[reason] = (this.recent[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - this.lastLogged < this.intervalMs) return;
    this.logger.warn(
      { listener: this.listener, refused: this.recent, address, ...(detail ? { detail } : {}) },
      this.message,
    );
    this.recent = {};
    this.lastLogged = now;
  }
}
