import type { IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { BrokerNodes } from './index.js';

describe('the broker nodes of a client', () => {
  it('starts on the first node and takes the next after each lost connection, round and round', () => {
    const nodes = new BrokerNodes('mqtt://nats-1:1883', ['mqtt://nats-2:1884', 'mqtt://[::1]']);
    const options: IClientOptions = { host: 'nats-1', port: 1883 };
    expect(nodes.first).toBe('mqtt://nats-1:1883');
    const seen = [nodes.current];
    for (let i = 0; i < 3; i++) {
      nodes.moveOn(options);
      seen.push(`${options.hostname}:${options.port}`);
    }
    expect(seen).toEqual(['mqtt://nats-1:1883', 'nats-2:1884', '::1:1883', 'nats-1:1883']);
    expect(options.host).toBe('nats-1');
  });

  it('lets the next node be named in its own certificate check, and leaves a lone node alone', () => {
    const nodes = new BrokerNodes('mqtts://user:secret@a.example:8883', ['mqtts://b.example']);
    const options: IClientOptions = { host: 'a.example', port: 8883, servername: 'a.example' };
    nodes.moveOn(options);
    expect(options).toMatchObject({ host: 'b.example', port: 8883 });
    expect(options.servername).toBeUndefined();
    expect(nodes.current).toBe('mqtts://b.example');
    const lone = new BrokerNodes('mqtt://only:1883');
    const unchanged: IClientOptions = { host: 'only', port: 1883 };
    lone.moveOn(unchanged);
    expect(unchanged).toEqual({ host: 'only', port: 1883 });
  });

  it('refuses nodes of another scheme or path, and more than a cluster has', () => {
    expect(() => new BrokerNodes('mqtt://a:1883', ['mqtts://b:8883'])).toThrow(/not mqtt:/);
    expect(() => new BrokerNodes('wss://a/mqtt', ['wss://b/other'])).toThrow(/\/mqtt/);
    const many = Array.from({ length: 16 }, (_, i) => `mqtt://n${i}:1883`);
    expect(() => new BrokerNodes('mqtt://a:1883', many)).toThrow(/more than 16/);
  });
});
