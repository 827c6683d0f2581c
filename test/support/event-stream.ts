/**
 * Reads the live event stream's events (`event: event`) from `GET /v1/ops/stream`, as a page does,
 * until `want` of them have come; rejects, saying how many came, when they have not within `withinMs`.
 */
export async function readEvents(
  body: ReadableStream<Uint8Array>,
  want: number,
  withinMs = 60_000,
): Promise<Record<string, unknown>[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events: Record<string, unknown>[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void reader.cancel();
  }, withinMs);
  try {
    while (events.length < want) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      let end = text.indexOf('\n\n');
      while (end >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const data = block.split('\n').find((line) => line.startsWith('data: '));
        if (block.includes('event: event') && data) events.push(JSON.parse(data.slice(6)));
        end = text.indexOf('\n\n');
      }
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut)
    throw new Error(`the live stream gave ${events.length} of ${want} events within ${withinMs} ms`);
  await reader.cancel();
  return events;
}
