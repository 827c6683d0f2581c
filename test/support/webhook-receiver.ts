import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AbsenceNotice,
  type Notice,
  type OverdueNotice,
  type PassageNotice,
  type RefusalNotice,
  verifySignature,
} from '@educard/cloud-bridge';

/** What the receiver does with the next request. */
export type ReceiverFault = 'fail' | 'stall' | 'reject' | 'throttle';

export interface ReceivedDelivery {
  deliveryId: string;
  /** The X-Educard-Delivery header, which must equal the body's deliveryId. */
  header: string;
  notices: Notice[];
  raw: string;
}

/**
 * A school's messaging gateway as the bridge meets it: a real HTTP server that checks each delivery's
 * signature, dedupes by delivery id, and on command fails with 500, refuses with 400, throttles with
 * 429, stalls (holds the answer until closed) or is down (not listening).
 */
export class WebhookReceiver {
  /** Every request that carried a valid signature, re-sends included, in arrival order. */
  readonly received: ReceivedDelivery[] = [];
  /** Deliveries confirmed with 200, each once. */
  readonly accepted = new Map<string, ReceivedDelivery>();
  badSignatures = 0;
  private readonly faults: ReceiverFault[] = [];
  private readonly stalled = new Set<ServerResponse>();
  private server: Server;

  private constructor(
    readonly secret: string,
    private port: number,
    private readonly now: () => number,
  ) {
    this.server = this.makeServer();
  }

  /** `now`: the clock signatures are judged by, the bridge's when a test sets it. */
  static async start(secret: string, now: () => number = Date.now): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret, 0, now);
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/attendance`;
  }

  /** The passage notices confirmed, each once, in the order they were confirmed. */
  get notices(): PassageNotice[] {
    return this.confirmed().filter((notice): notice is PassageNotice => !('kind' in notice));
  }

  /** The absence notices confirmed, each once. */
  get absences(): AbsenceNotice[] {
    return this.ofKind('absent');
  }

  /** The refusal notices confirmed, each once. */
  get refusals(): RefusalNotice[] {
    return this.ofKind('refused');
  }

  /** The reminders of overdue library books confirmed, each once. */
  get overdue(): OverdueNotice[] {
    return this.ofKind('overdue');
  }

  private ofKind<K extends AbsenceNotice['kind'] | RefusalNotice['kind'] | OverdueNotice['kind']>(kind: K) {
    return this.confirmed().filter(
      (notice): notice is Extract<Notice, { kind: K }> => 'kind' in notice && notice.kind === kind,
    );
  }

  private confirmed(): Notice[] {
    return [...this.accepted.values()].flatMap((delivery) => delivery.notices);
  }

  /** Faults for the next requests, one each, in order. */
  failNext(...faults: ReceiverFault[]): void {
    this.faults.push(...faults);
  }

  /** Starts listening (again, on the same port). */
  async up(): Promise<void> {
    this.server = this.makeServer();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and cuts every connection: the bridge meets a refused connection. */
  async down(): Promise<void> {
    for (const response of this.stalled) response.destroy();
    this.stalled.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private makeServer(): Server {
    return createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const check = verifySignature(
      request.headers['x-educard-signature'] as string | undefined,
      raw,
      this.secret,
      { toleranceSeconds: 300, nowSeconds: Math.floor(this.now() / 1000) },
    );
    if (!check.ok) {
      this.badSignatures++;
      response.writeHead(401).end(check.reason);
      return;
    }
    const body = JSON.parse(raw) as { deliveryId: string; notices: Notice[] };
    const delivery = {
      deliveryId: body.deliveryId,
      header: String(request.headers['x-educard-delivery']),
      notices: body.notices,
      raw,
    };
    this.received.push(delivery);
    const fault = this.faults.shift();
    if (fault === 'stall') {
      this.stalled.add(response);
      return;
    }
    if (fault === 'fail') return void response.writeHead(500).end('down for maintenance');
    if (fault === 'reject') return void response.writeHead(400).end('unknown school');
    if (fault === 'throttle') return void response.writeHead(429, { 'retry-after': '0' }).end();
    if (!this.accepted.has(delivery.deliveryId)) this.accepted.set(delivery.deliveryId, delivery);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }
}
