/** Where a stop step that failed or took too long is told: a pino logger fits. */
export interface TeardownLogger {
  warn(details: object, message: string): void;
}

/** The longest each stop step waits for its part. */
export const STOP_STEP_MS = 1_500;

/** `work`, or a rejection once `ms` have passed without it settling. */
export function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface Step {
  what: string;
  run: () => unknown;
  ms: number;
}

/**
 * The stops of the parts started so far, run newest first: by a service's stop, and by a start that
 * failed half-way (the gateway's and the bridge's), so a part that would not start leaves nothing of the parts before it open.
 * Each step is bounded: a peer that never answers or a disk that takes no writes never holds a stop
 * past a few seconds, and a step that fails does not keep the others from running.
 */
export class Teardown {
  private readonly steps: Step[] = [];
  /** Set once the stops have begun: a reader going away then is released, not lost. */
  stopping = false;

  constructor(private readonly logger: TeardownLogger) {}

  /** Notes how to stop a part that has just started. */
  add(what: string, run: () => unknown, ms = STOP_STEP_MS): void {
    this.steps.push({ what, run, ms });
  }

  async run(): Promise<void> {
    this.stopping = true;
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      const { what, run, ms } = step;
      try {
        await within(ms, Promise.resolve().then(run));
      } catch (error) {
        this.logger.warn({ step: what, err: (error as Error).message }, 'stop step cut short');
      }
    }
  }
}
