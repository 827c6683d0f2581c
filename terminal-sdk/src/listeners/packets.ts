import { Duplex } from 'node:stream';

const CONNECT = 1;

export interface PacketLimits {
  /** The first packet, which must be a CONNECT: its largest remaining length. */
  maxConnectBytes: number;
  /** Every later packet's largest remaining length. */
  maxPacketBytes: number;
}

/**
 * Follows MQTT's fixed headers (a type byte, then the remaining length in up to four bytes) as the
 * bytes of a connection pass, and says when a packet announces more than its limit. It keeps no
 * bytes: a packet's body is only counted past, so the check costs the same for 1 KB and 1 GB.
 */
export class MqttPacketScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private lengthBytes = 0;
  private remaining = 0;
  private packets = 0;

  constructor(private readonly limits: PacketLimits) {}

  /** Undefined while every packet seen so far is within its limit; otherwise why not. */
  scan(chunk: Uint8Array): string | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'body') {
        const skipped = Math.min(this.remaining, chunk.length - at);
        this.remaining -= skipped;
        at += skipped;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[at++] as number;
      if (this.state === 'type') {
        if (this.packets === 0 && byte >> 4 !== CONNECT)
          return `the first packet must be a CONNECT, not type ${byte >> 4}`;
        this.state = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'a remaining length longer than four bytes';
        continue;
      }
      const limit = this.packets === 0 ? this.limits.maxConnectBytes : this.limits.maxPacketBytes;
      if (this.length > limit)
        return `a ${this.packets === 0 ? 'CONNECT' : 'packet'} of ${this.length} bytes, over the limit of ${limit}`;
      this.packets += 1;
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    return undefined;
  }
}

/**
 * A connection (a TCP socket, a WebSocket stream) as the broker sees it: the same bytes both ways,
 * except that a packet over its limit closes the connection before the broker buffers any of it.
 * `onRefused` hears why, once.
 */
export class LimitedMqttStream extends Duplex {
  constructor(
    private readonly inner: Duplex,
    limits: PacketLimits,
    onRefused: (reason: string) => void,
    /** The peer, for the broker's log lines. */
    readonly remoteAddress?: string,
  ) {
    super({ allowHalfOpen: false });
    const scanner = new MqttPacketScanner(limits);
    inner.on('data', (chunk: Buffer) => {
      const problem = scanner.scan(chunk);
      if (problem !== undefined) {
        onRefused(problem);
        this.destroy(new Error(`refused ${problem}`));
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    inner.on('error', (error) => this.destroy(error));
    inner.once('close', () => this.destroy());
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.inner.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    callback(error);
  }
}
