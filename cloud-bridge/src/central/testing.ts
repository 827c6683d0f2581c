import { randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EventBatchBody, type FeedReport, type GrowthVisit, type PushedEvent } from './contract.js';

/**
 * A small real central system for tests and the bench: it serves a change feed, takes problem
 * reports and event batches as docs/central-api.yaml says, dedupes events by (device, epoch, seq) and keeps
 * each device's arrival order. Fault switches make it fail the ways a real one does: down, 5xx, 429,
 * a stall past the client's timeout, a connection dropped after storing (a lost answer), refused events.
 */
export class CentralTestServer {
  readonly token: string;
  /** Every change the feed holds, in order; a cursor is the index of the next one. */
  readonly changes: unknown[] = [];
  readonly reports: FeedReport[] = [];
  /** Events as stored, first arrival only, in arrival order. */
  readonly events: PushedEvent[] = [];
  readonly batchesReceived: { key: string | undefined; size: number }[] = [];
  /** How many times an event arrived again after it was stored. */
  duplicates = 0;
  private readonly stored = new Set<string>();
  private readonly refusals = new Map<string, string>();
  private faults: { kind: 'status' | 'stall' | 'drop'; status?: number; retryAfter?: number }[] = [];
  private server: Server;
  private port = 0;

  private constructor(token: string) {
    this.token = token;
    this.server = this.makeServer();
  }

  static async start(token = 'central-test-token-0123456789'): Promise<CentralTestServer> {
    const central = new CentralTestServer(token);
    await central.up();
    return central;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The growth-record entries of the events stored, in arrival order (each event once). */
  get growthRecords(): GrowthVisit[] {
    return this.events.flatMap((event) => (event.growthRecord ? [event.growthRecord] : []));
  }

  /** The events of a device in the order they first arrived. */
  deviceEvents(device: string): PushedEvent[] {
    return this.events.filter((e) => e.device === device);
  }

  /**
   * Starts listening (again, on the same port after `down`). The first time on a port below the
   * kernel's ephemeral range (32768 and up on Linux), which it hands to outgoing connections and to
   * listens on port 0: one of those took a port given up by `down` before `up` came back to it.
   * 20000-28999: clear of vpcd's 29963 and 35963.
   */
  async up(): Promise<void> {
    if (this.server.listening) return;
    for (let tries = 1; ; tries++) {
      const port = this.port || 20_000 + randomInt(9_000);
      try {
        await this.listen(port);
        this.port = port;
        return;
      } catch (error) {
        if (this.port || tries >= 20 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
    }
  }

  private listen(port: number): Promise<void> {
    this.server = this.makeServer();
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening and cuts every open connection: the central system is unreachable. */
  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  stop(): Promise<void> {
    return this.down();
  }

  /** The next `count` event batches get this status (with Retry-After seconds for a 429). */
  failNext(count: number, status: number, retryAfterSeconds?: number): void {
    for (let i = 0; i < count; i++)
      this.faults.push({
        kind: 'status',
        status,
        ...(retryAfterSeconds !== undefined ? { retryAfter: retryAfterSeconds } : {}),
      });
  }

  /** The next `count` event batches are stored, but their answer never comes (until the client gives up). */
  stallNext(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: 'stall' });
  }

  /** The next `count` event batches are stored, then the connection is dropped: the answer is lost. */
  dropAfterStoreNext(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: 'drop' });
  }

  /** Refuses this event (of the device's first epoch) each time it comes, until `accept` is called for it. */
  refuse(device: string, seq: number, reason = 'refused by the test'): void {
    this.refusals.set(idOf({ device, seq }), reason);
  }

  accept(device: string, seq: number): void {
    this.refusals.delete(idOf({ device, seq }));
  }

  private makeServer(): Server {
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: Error) => {
        if (!response.headersSent) send(response, 500, { error: 'internal', message: error.message });
      });
    });
    server.keepAliveTimeout = 1000;
    return server;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://central');
    const body = await readBody(request);
    if (request.headers.authorization !== `Bearer ${this.token}`)
      return send(response, 401, { error: 'unauthorized' });
    if (request.method === 'GET' && url.pathname === '/v1/changes') {
      const since = Number(url.searchParams.get('since') || 0);
      const limit = Math.min(1000, Number(url.searchParams.get('limit') || 100));
      const records = this.changes.slice(since, since + limit);
      const next = since + records.length;
      return send(response, 200, { cursor: String(next), hasMore: next < this.changes.length, records });
    }
    if (request.method === 'POST' && url.pathname === '/v1/changes/reports') {
      this.reports.push(JSON.parse(body) as FeedReport);
      return send(response, 204);
    }
    if (request.method === 'POST' && url.pathname === '/v1/events/batches') {
      const parsed = EventBatchBody.safeParse(JSON.parse(body));
      if (!parsed.success)
        return send(response, 400, { error: 'bad-request', message: parsed.error.message });
      const key = request.headers['idempotency-key'];
      const fault = this.faults.shift();
      if (fault?.kind === 'status') {
        if (fault.retryAfter !== undefined) response.setHeader('retry-after', String(fault.retryAfter));
        return send(response, fault.status ?? 500, { error: 'unavailable' });
      }
      this.batchesReceived.push({
        key: typeof key === 'string' ? key : undefined,
        size: parsed.data.events.length,
      });
      const answer = this.take(parsed.data.events);
      if (fault?.kind === 'drop') {
        request.socket.destroy();
        return;
      }
      // A stall stores the events and answers only when the client has long given up.
      if (fault?.kind === 'stall') {
        await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
        return;
      }
      return send(response, 200, answer);
    }
    send(response, 404, { error: 'not-found' });
  }

  /** Takes a device's events in order: after one it refuses, the device's later ones are held. */
  private take(events: PushedEvent[]): {
    accepted: number;
    rejected: { device: string; epoch?: number; seq: number; reason: string }[];
  } {
    const rejected: { device: string; epoch?: number; seq: number; reason: string }[] = [];
    const held = new Set<string>();
    let accepted = 0;
    for (const event of events) {
      const id = idOf(event);
      const named = { device: event.device, ...(event.epoch ? { epoch: event.epoch } : {}), seq: event.seq };
      if (held.has(event.device)) {
        rejected.push({ ...named, reason: 'held' });
        continue;
      }
      const refusal = this.refusals.get(id);
      if (refusal) {
        held.add(event.device);
        rejected.push({ ...named, reason: refusal });
        continue;
      }
      accepted += 1;
      if (this.stored.has(id)) {
        this.duplicates += 1;
        continue;
      }
      this.stored.add(id);
      this.events.push(event);
    }
    return { accepted, rejected };
  }
}

/** An event's identity: (device, epoch, seq), an event without an epoch being of the first. */
const idOf = (event: { device: string; epoch?: number; seq: number }) =>
  `${event.device}:${event.epoch ?? 1}:${event.seq}`;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    response.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
