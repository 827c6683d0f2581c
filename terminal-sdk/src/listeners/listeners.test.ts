import { PassThrough } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { addressKey, addressMatcher, isAddressOrRange } from './addresses.js';
import { ConnectionLimits } from './connections.js';
import { mqttListenerLimits } from './limits.js';
import { LimitedMqttStream, MqttPacketScanner } from './packets.js';

const LIMITS = { maxConnectBytes: 64, maxPacketBytes: 1000 };
const connect = mqttPacket.generate({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clientId: 'gate-01',
  clean: true,
  keepalive: 30,
});
const publish = (bytes: number) =>
  mqttPacket.generate({
    cmd: 'publish',
    topic: 't',
    payload: Buffer.alloc(bytes),
    qos: 0,
    retain: false,
    dup: false,
  });

describe('the MQTT packet scanner', () => {
  it('passes packets within their limits however the bytes are cut', () => {
    // A PUBLISH of n payload bytes on topic "t" has a remaining length of n + 3: the last is exactly 1000.
    const stream = Buffer.concat([connect, publish(900), publish(0), publish(997)]);
    for (const size of [1, 2, 7, 64, stream.length]) {
      const scanner = new MqttPacketScanner(LIMITS);
      for (let at = 0; at < stream.length; at += size)
        expect(scanner.scan(stream.subarray(at, at + size))).toBeUndefined();
    }
  });

  it('refuses a packet over its limit as soon as its length is read, before its body', () => {
    const scanner = new MqttPacketScanner(LIMITS);
    expect(scanner.scan(connect)).toBeUndefined();
    const header = publish(1000).subarray(0, 3);
    expect(scanner.scan(header)).toMatch(/^a packet of 100\d bytes, over the limit of 1000$/);
  });

  it('holds the first packet to the CONNECT limit, and to being a CONNECT', () => {
    const big = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'x'.repeat(100),
      clean: true,
      keepalive: 30,
    });
    expect(new MqttPacketScanner(LIMITS).scan(big)).toMatch(/^a CONNECT of \d+ bytes, over the limit of 64$/);
    expect(new MqttPacketScanner(LIMITS).scan(publish(1))).toBe(
      'the first packet must be a CONNECT, not type 3',
    );
  });

  it('refuses a remaining length longer than four bytes, and 200 MB announced in four', () => {
    expect(new MqttPacketScanner(LIMITS).scan(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]))).toBe(
      'a remaining length longer than four bytes',
    );
    expect(new MqttPacketScanner(LIMITS).scan(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x64]))).toMatch(
      /^a CONNECT of 209715200 bytes/,
    );
  });
});

describe('a limited MQTT stream', () => {
  it('passes bytes both ways, and closes its connection on a packet over the limit', async () => {
    const inner = new PassThrough();
    const refused: string[] = [];
    const limited = new LimitedMqttStream(inner, LIMITS, (reason) => refused.push(reason), '10.0.0.1');
    const read: Buffer[] = [];
    limited.on('data', (chunk: Buffer) => read.push(chunk));
    limited.on('error', () => undefined);
    inner.write(connect);
    await new Promise((resolve) => setImmediate(resolve));
    expect(Buffer.concat(read)).toEqual(connect);
    expect(limited.remoteAddress).toBe('10.0.0.1');
    inner.write(publish(5000));
    await new Promise((resolve) => limited.once('close', resolve));
    expect(inner.destroyed).toBe(true);
    expect(refused).toEqual([expect.stringMatching(/over the limit of 1000/)]);
    expect(Buffer.concat(read)).toEqual(connect);
  });
});

describe('connection limits', () => {
  it('caps connections in all, per address and pending, and frees each slot once', () => {
    const limits = new ConnectionLimits({ maxConnections: 4, maxPerAddress: 2, maxPending: 3 });
    const a1 = limits.admit('10.0.0.1');
    const a2 = limits.admit('::ffff:10.0.0.1');
    expect(limits.admit('10.0.0.1')).toBe('address');
    const b1 = limits.admit('10.0.0.2');
    expect(limits.admit('10.0.0.3')).toBe('pending');
    if (typeof a1 === 'string' || typeof a2 === 'string' || typeof b1 === 'string')
      throw new Error('refused');
    a1.authenticated();
    a1.authenticated();
    const c1 = limits.admit('10.0.0.3');
    expect(typeof c1).toBe('object');
    expect(limits.admit('10.0.0.4')).toBe('total');
    expect(limits.open).toBe(4);
    a2.release();
    a2.release();
    expect(limits.open).toBe(3);
    expect(typeof limits.admit('10.0.0.1')).toBe('object');
  });

  it('counts an IPv6 host by its /64, and holds no exempt proxy to the per-address cap', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb::2'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    const proxy = addressMatcher(['192.0.2.0/24']);
    const limits = new ConnectionLimits({ maxConnections: 10, maxPerAddress: 1, exempt: proxy });
    expect(typeof limits.admit('192.0.2.1')).toBe('object');
    expect(typeof limits.admit('192.0.2.1')).toBe('object');
    expect(typeof limits.admit('198.51.100.1')).toBe('object');
    expect(limits.admit('198.51.100.1')).toBe('address');
  });

  it('matches proxies by address or range, and tells a typo from an address', () => {
    const trusted = addressMatcher(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(['127.0.0.1', '::ffff:127.0.0.1', '10.9.8.7', 'fd12::1'].map(trusted)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['127.0.0.2', '11.0.0.1', 'fe80::1', undefined].map(trusted)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(['10.0.0.1', '10.0.0.0/8', '::1', 'localhost', '10.0.0.0/33'].map(isAddressOrRange)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });
});

describe('the limits section of a config', () => {
  it('fills defaults and refuses limits that contradict each other', () => {
    const schema = mqttListenerLimits({
      maxConnections: 10,
      maxPerAddress: 2,
      maxPending: 5,
      connectTimeoutMs: 1000,
      maxConnectBytes: 1024,
      maxPacketBytes: 4096,
    });
    expect(schema.parse(undefined)).toMatchObject({ maxConnections: 10, maxPacketBytes: 4096 });
    const wrong = schema.safeParse({ maxPending: 11, maxConnectBytes: 8192 });
    expect(wrong.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      'maxPending: must not exceed maxConnections',
      'maxConnectBytes: must not exceed maxPacketBytes',
    ]);
  });
});
