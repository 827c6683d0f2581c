/**
 * Polls `check` until it gives something other than `undefined` or `false`, and returns that; after
 * `timeoutMs` it throws, naming `what`. The one wait of the tests, the demo and the test harness.
 */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  {
    what = 'the condition',
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
