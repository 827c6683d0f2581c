import { Transform } from 'node:stream';

/**
 * A byte rate shared by whoever takes from it: each taker waits until its bytes fit the rate since the
 * last one, so several downloads through one rate share it instead of each getting it whole.
 */
export class ByteRate {
  private next = 0;

  constructor(private readonly bytesPerSecond: number) {}

  /** Milliseconds to wait before `bytes` more may go. */
  take(bytes: number): number {
    const now = performance.now();
    const start = Math.max(now, this.next);
    this.next = start + (bytes / this.bytesPerSecond) * 1000;
    return start - now;
  }
}

/** A stream that holds each chunk back until every rate it goes through allows it. */
export function throttled(rates: ByteRate[]): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const wait = Math.max(...rates.map((rate) => rate.take(chunk.length)));
      if (wait < 1) done(null, chunk);
      else setTimeout(() => done(null, chunk), wait);
    },
  });
}
