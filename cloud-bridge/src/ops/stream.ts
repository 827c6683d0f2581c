import type { ServerResponse } from 'node:http';
import { type EventRecord, maskCardId } from '@educard/terminal-sdk';
import type { EventSummary } from './types.js';

/** Builds the summary of a record; `nameOf` finds a person's name (directory, else roster). */
export function summarise(
  event: { id: number; school: string; device: string; at: string; record: EventRecord },
  nameOf: (personId: string | undefined, cardId: string | undefined) => string | undefined,
): EventSummary {
  const data = event.record.data as Record<string, unknown>;
  const cardId = typeof data.cardId === 'string' ? data.cardId : undefined;
  const personId = typeof data.personId === 'string' ? data.personId : undefined;
  const name = nameOf(personId, cardId);
  return {
    id: event.id,
    school: event.school,
    device: event.device,
    type: event.record.type,
    at: event.at,
    ...(cardId !== undefined ? { card: maskCardId(cardId) } : {}),
    ...(personId !== undefined ? { personId } : {}),
    ...(name !== undefined ? { name } : {}),
    // Stored records are not all well-formed (see commitRecords): only text is shown as text.
    ...(event.record.type === 'gate.decision' && typeof data.decision === 'string'
      ? { decision: data.decision, ...(typeof data.reason === 'string' ? { reason: data.reason } : {}) }
      : {}),
  };
}

/** Bytes a client may have waiting in its socket before its events are dropped rather than queued. */
const MAX_BUFFERED = 256 * 1024;
const HEARTBEAT_MS = 15_000;

interface Listener {
  response: ServerResponse;
  /** Whose stream it is: an account's id, or the admin token. */
  owner: string;
  /** Only this school's events; all schools when absent (a district-wide caller). */
  school?: string;
  dropped: number;
}

/**
 * Server-Sent Events to the operations pages. A client that does not keep up loses events (it is
 * told how many) rather than making the bridge hold them: ingest never waits on a browser. Streams
 * are capped per owner and in all, so one account's open tabs (or a script) cannot hold them all.
 */
export class EventHub {
  private readonly listeners = new Set<Listener>();
  private readonly sizeWatchers = new Set<(size: number) => void>();
  private heartbeat?: NodeJS.Timeout;

  constructor(private readonly limits: { perAccount: number; total: number }) {}

  get size(): number {
    return this.listeners.size;
  }

  /** Calls `watcher` with the number of streams open each time one opens or closes; returns its removal. */
  watchSize(watcher: (size: number) => void): () => void {
    this.sizeWatchers.add(watcher);
    return () => this.sizeWatchers.delete(watcher);
  }

  /** Why `owner` may not open another stream now, or undefined when it may. */
  refusal(owner: string): string | undefined {
    if (this.listeners.size >= this.limits.total)
      return `the bridge holds ${this.limits.total} live streams already`;
    let held = 0;
    for (const listener of this.listeners) if (listener.owner === owner) held += 1;
    return held >= this.limits.perAccount
      ? `at most ${this.limits.perAccount} live streams per account: close another first`
      : undefined;
  }

  /** Takes over a response: headers, then events until the client goes or the hub closes. */
  add(response: ServerResponse, school: string | undefined, owner: string): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // A proxy in front (nginx) would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    response.write('retry: 3000\n\n');
    const listener: Listener = { response, owner, ...(school !== undefined ? { school } : {}), dropped: 0 };
    this.listeners.add(listener);
    this.sized();
    response.on('close', () => {
      if (this.listeners.delete(listener)) this.sized();
    });
    this.heartbeat ??= setInterval(() => this.beat(), HEARTBEAT_MS).unref();
  }

  publish(summaries: EventSummary[]): void {
    for (const listener of this.listeners) {
      for (const summary of summaries) {
        if (listener.school !== undefined && listener.school !== summary.school) continue;
        if (listener.response.writableLength > MAX_BUFFERED) {
          listener.dropped += 1;
          continue;
        }
        if (listener.dropped > 0) {
          listener.response.write(`event: dropped\ndata: ${JSON.stringify({ count: listener.dropped })}\n\n`);
          listener.dropped = 0;
        }
        listener.response.write(`id: ${summary.id}\nevent: event\ndata: ${JSON.stringify(summary)}\n\n`);
      }
    }
  }

  /** Ends every stream (the bridge is stopping: its HTTP server waits for open responses). */
  close(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const listener of this.listeners) listener.response.end();
    this.listeners.clear();
    this.sized();
  }

  private sized(): void {
    for (const watcher of this.sizeWatchers) watcher(this.listeners.size);
  }

  private beat(): void {
    if (this.listeners.size === 0) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      return;
    }
    for (const listener of this.listeners) listener.response.write(': heartbeat\n\n');
  }
}
