/**
 * Polls `check` until it gives something other than `undefined` or `false`, and returns that; after
 * `timeoutMs` it throws, naming `what` (by default the check's own source, so that even an unnamed
 * wait says what it waited for). The one wait of the tests, the demo, the benchmarks and the test
 * harness.
 */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  {
    what = sourceOf(check),
    timeoutMs = 15_000,
    everyMs = 20,
  }: { what?: string; timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function sourceOf(check: () => unknown): string {
  const source = check.toString().replace(/\s+/g, ' ');
  return source.length > 160 ? `${source.slice(0, 157)}...` : source;
}
