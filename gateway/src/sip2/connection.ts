import type { Duplex } from 'node:stream';
import { SerialQueue } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import {
  decodeMessage,
  encodeFrame,
  FrameReader,
  RESPONSE_CODE,
  type Sip2Message,
  type Sip2RequestCode,
} from './codec.js';
import type { Sip2Config } from './config.js';
import { Sip2ChecksumError, Sip2Unavailable } from './errors.js';
import { connectSocket, type Sip2Connect } from './socket.js';

/** One request and its answer on the open connection (what a handshake is given). */
export type Sip2Exchange = (message: Sip2Message) => Promise<Sip2Message>;

export interface Sip2ConnectionOptions {
  config: Sip2Config;
  /** Opens the stream: TCP or TLS from the config by default. */
  connect?: Sip2Connect;
  /** Runs on every new stream before any request (login, status); a throw drops the stream. */
  handshake: (exchange: Sip2Exchange) => Promise<void>;
  logger?: Logger;
}

type Waiter = { resolve: (frame: Buffer) => void; reject: (error: Error) => void };

/**
 * The SIP2 wire to one library system: framing, sequence numbers (AY), one request at a time each
 * waiting for its answer (SIP2 is strictly request/response), resends on a bad checksum (97) or when
 * the system asks (96), and retries on a new connection. A request without answer in `timeoutMs`
 * drops the stream, and the next request connects again. It knows messages only as codes and fields:
 * what they mean is the client's.
 */
export class Sip2Connection {
  private readonly config: Sip2Config;
  private readonly connectTo: Sip2Connect;
  private readonly handshake: (exchange: Sip2Exchange) => Promise<void>;
  private readonly log: Logger | undefined;
  private stream: Duplex | undefined;
  private ready = false;
  private frames = new FrameReader();
  private inbox: Buffer[] = [];
  private waiter: Waiter | undefined;
  private streamError: Error | undefined;
  private sequence = 0;
  private readonly queue = new SerialQueue();
  private closed = false;

  constructor(options: Sip2ConnectionOptions) {
    this.config = options.config;
    this.connectTo = options.connect ?? connectSocket;
    this.handshake = options.handshake;
    this.log = options.logger;
  }

  get connected(): boolean {
    return this.ready && this.stream !== undefined && !this.stream.destroyed;
  }

  /** Connects and runs the handshake now, rather than on the first request. */
  open(): Promise<void> {
    return this.queue.run(() => this.session());
  }

  /**
   * Sends one request and waits for its answer, connecting first when needed. A request that never
   * reached the system is tried again (`retries`); one that may have reached it only when it is a
   * read (`idempotent`), since a checkout sent twice might be carried out twice.
   */
  request(message: Sip2Message, idempotent: boolean): Promise<Sip2Message> {
    return this.queue.run(async () => {
      for (let attempt = 0; ; attempt++) {
        let written = false;
        try {
          await this.session();
          written = true;
          return await this.exchange(message);
        } catch (caught) {
          let error = caught;
          // A failure while connecting or logging in never sent this request.
          if (error instanceof Sip2Unavailable && error.sent && !written) {
            error = new Sip2Unavailable(error.message, error.reason, false, { cause: error.cause });
          }
          const again =
            error instanceof Sip2Unavailable &&
            error.reason !== 'offline' &&
            (!error.sent || idempotent) &&
            attempt < this.config.retries;
          if (!again) throw error;
          this.log?.warn({ err: error, code: message.code, attempt: attempt + 1 }, 'SIP2 request sent again');
        }
      }
    });
  }

  /** Closes the stream; later requests fail with Sip2Unavailable('offline'). */
  async close(): Promise<void> {
    this.closed = true;
    this.drop(new Sip2Unavailable('the SIP2 client was closed', 'offline'));
    await this.queue.idle();
  }

  private async session(): Promise<void> {
    if (this.closed) throw new Sip2Unavailable('the SIP2 client was closed', 'offline');
    if (this.connected) return;
    this.drop();
    await this.attach();
    try {
      await this.handshake((message) => this.exchange(message));
    } catch (error) {
      this.drop();
      throw error;
    }
    this.ready = true;
  }

  private async attach(): Promise<void> {
    const { host, port } = this.config;
    let stream: Duplex;
    try {
      stream = await this.connectTo(this.config);
    } catch (error) {
      if (error instanceof Sip2Unavailable) throw error;
      throw new Sip2Unavailable(
        `cannot reach the library system at ${host}:${port}: ${(error as Error).message}`,
        'connect',
        false,
        { cause: error },
      );
    }
    this.stream = stream;
    this.frames = new FrameReader();
    this.inbox = [];
    this.streamError = undefined;
    stream.on('data', (chunk: Buffer) => {
      if (this.stream !== stream) return;
      let frames: Buffer[];
      try {
        frames = this.frames.push(chunk);
      } catch (error) {
        this.drop(new Sip2Unavailable('the library system sent garbage', 'protocol', true, { cause: error }));
        return;
      }
      for (const frame of frames) this.deliver(frame);
    });
    stream.on('error', (error) => {
      if (this.stream === stream) this.streamError = error;
    });
    stream.on('close', () => {
      if (this.stream !== stream) return;
      this.drop(
        new Sip2Unavailable(
          `the SIP2 connection closed${this.streamError ? `: ${this.streamError.message}` : ''}`,
          'closed',
          true,
          { cause: this.streamError },
        ),
      );
    });
  }

  /** Ends the stream; a request waiting for an answer fails with `error`. */
  private drop(error?: Error): void {
    const stream = this.stream;
    this.stream = undefined;
    this.ready = false;
    this.inbox = [];
    stream?.destroy();
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter)
      waiter.reject(error ?? new Sip2Unavailable('the SIP2 connection was dropped', 'closed', true));
  }

  private deliver(frame: Buffer): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter.resolve(frame);
    } else {
      this.inbox.push(frame);
    }
  }

  private nextFrame(): Promise<Buffer> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    const stream = this.stream;
    if (!stream || stream.destroyed) {
      return Promise.reject(new Sip2Unavailable('the SIP2 connection closed', 'closed', true));
    }
    const { timeoutMs } = this.config;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        // The answer may still come: the stream is out of step, so start again on a new connection.
        this.drop();
        reject(new Sip2Unavailable(`no answer from the library system in ${timeoutMs} ms`, 'timeout', true));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiter = waiter;
    });
  }

  private write(frame: Buffer): void {
    const stream = this.stream;
    if (!stream || stream.destroyed) throw new Sip2Unavailable('the SIP2 connection closed', 'closed', false);
    stream.write(frame);
  }

  /** Fails the exchange and drops the stream, which is out of step with the system now. */
  private fail(message: string, cause?: unknown): never {
    const failure = new Sip2Unavailable(
      message,
      'protocol',
      true,
      cause === undefined ? undefined : { cause },
    );
    this.drop(failure);
    throw failure;
  }

  /** One request and its answer on the open stream, with resends on bad checksums. */
  private async exchange(message: Sip2Message): Promise<Sip2Message> {
    const expected = RESPONSE_CODE[message.code as Sip2RequestCode];
    const sequence = this.sequence;
    this.sequence = (this.sequence + 1) % 10;
    const { errorDetection, encoding, retries } = this.config;
    const frame = encodeFrame({ ...message, sequence }, { errorDetection, encoding });
    this.inbox = [];
    this.write(frame);
    this.log?.debug({ code: message.code, sequence }, 'SIP2 request');
    let resends = 0;
    for (;;) {
      const raw = await this.nextFrame();
      let reply: Sip2Message;
      try {
        reply = decodeMessage(raw, { encoding });
      } catch (error) {
        if (error instanceof Sip2ChecksumError && errorDetection && resends < retries) {
          resends++;
          this.log?.warn(
            { code: message.code, sequence },
            'SIP2 answer with a bad checksum: asking for it again',
          );
          this.write(encodeFrame({ code: '97', fixed: {}, fields: [] }, { errorDetection, encoding }));
          continue;
        }
        this.fail(`unreadable answer from the library system: ${(error as Error).message}`, error);
      }
      if (reply.code === '96') {
        if (resends >= retries) this.fail('the library system kept asking for our request again');
        resends++;
        this.log?.warn({ code: message.code, sequence }, 'the library system asked for our request again');
        this.write(frame);
        continue;
      }
      if (
        reply.code !== expected ||
        (errorDetection && reply.sequence !== undefined && reply.sequence !== sequence)
      ) {
        this.fail(
          `the library system answered ${message.code} (AY${sequence}) with ${reply.code}${
            reply.sequence === undefined ? '' : ` (AY${reply.sequence})`
          }`,
        );
      }
      this.log?.debug({ code: reply.code, sequence }, 'SIP2 answer');
      return reply;
    }
  }
}
