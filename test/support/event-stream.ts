/**
 * Reads the live event stream's events (`event: event`) from `GET /v1/ops/stream`, as a page does,
 * until `want` of them have come.
 */
export async function readEvents(
  body: ReadableStream<Uint8Array>,
  want: number,
): Promise<Record<string, unknown>[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events: Record<string, unknown>[] = [];
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
  await reader.cancel();
  return events;
}
