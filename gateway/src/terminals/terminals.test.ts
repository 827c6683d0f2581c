import { localTopics } from '@educard/terminal-sdk';
import { describe, expect, it } from 'vitest';
import { mayPublish, maySubscribe, requestStation } from './acl.js';
import { TERMINAL_BROKER_LIMITS, TerminalEntry, TerminalsConfig } from './config.js';
import { passwordMatches, passwordSha256, terminalCredential } from './credentials.js';

const desk = { id: 'desk-1', stations: ['library-1', 'library-2'] };

describe('terminal ACL', () => {
  it('lets a terminal publish requests to its own stations and nowhere else', () => {
    expect(mayPublish(desk, localTopics.requests('library-1'))).toBe(true);
    expect(mayPublish(desk, localTopics.requests('library-2'))).toBe(true);
    for (const topic of [
      localTopics.requests('lab-1'),
      localTopics.replies('library-1', 'desk-1'),
      localTopics.taps('library-1'),
      localTopics.view('library-1'),
      localTopics.gatewayState(),
      'educard/v1/school-1/devices/gate-01/events',
      '$SYS/broker/clients',
    ]) {
      expect(mayPublish(desk, topic), topic).toBe(false);
    }
  });

  it('lets a terminal subscribe to the state, its stations and its own replies, exactly', () => {
    for (const topic of [
      localTopics.gatewayState(),
      localTopics.taps('library-1'),
      localTopics.view('library-2'),
      localTopics.replies('library-1', 'desk-1'),
    ]) {
      expect(maySubscribe(desk, topic), topic).toBe(true);
    }
    for (const topic of [
      localTopics.replies('library-1', 'desk-2'),
      localTopics.taps('lab-1'),
      localTopics.requests('library-1'),
      'educard/v1/local/#',
      'educard/v1/local/stations/+/taps',
      'educard/v1/local/stations/library-1/replies/+',
      '#',
    ]) {
      expect(maySubscribe(desk, topic), topic).toBe(false);
    }
  });

  it('finds the station a request topic names', () => {
    expect(requestStation(localTopics.requests('library-1'))).toBe('library-1');
    expect(requestStation(localTopics.taps('library-1'))).toBeUndefined();
    expect(requestStation('educard/v1/local/stations/requests')).toBeUndefined();
    expect(requestStation('educard/v1/local/stations/a/b/requests')).toBeUndefined();
  });
});

describe('terminal credentials and configuration', () => {
  it('makes a credential whose entry holds only the digest of a fresh random password', () => {
    const first = terminalCredential('desk-1', ['library-1']);
    const second = terminalCredential('desk-1', ['library-1']);
    expect(first.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(first.password).not.toBe(second.password);
    expect(TerminalEntry.parse(first.entry)).toEqual(first.entry);
    expect(JSON.stringify(first.entry)).not.toContain(first.password);
    expect(first.entry.passwordSha256).toBe(passwordSha256(first.password));
    expect(passwordMatches(first.password, first.entry.passwordSha256)).toBe(true);
    expect(passwordMatches(second.password, first.entry.passwordSha256)).toBe(false);
    expect(passwordMatches('', first.entry.passwordSha256)).toBe(false);
  });

  it('fills the defaults and reports every problem at once', () => {
    expect(TerminalsConfig.parse({})).toEqual({
      host: '0.0.0.0',
      port: 1884,
      wsPort: 8084,
      terminals: [],
      limits: TERMINAL_BROKER_LIMITS,
    });
    // A limit that contradicts another is refused with its path.
    const limits = TerminalsConfig.safeParse({ limits: { maxPending: 100, maxConnectBytes: 1 << 20 } });
    expect(limits.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'limits.maxPending',
      'limits.maxConnectBytes',
    ]);
    expect(TerminalsConfig.parse({ wsPort: false }).wsPort).toBe(false);
    const { entry } = terminalCredential('desk-1', ['library-1']);
    const result = TerminalsConfig.safeParse({
      port: 1884,
      wsPort: 1884,
      terminals: [entry, entry, { id: 'bad id', passwordSha256: 'secret', stations: [] }],
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['terminals.2.id', 'terminals.2.passwordSha256', 'terminals.2.stations']),
    );
  });

  it('refuses a terminal listed twice and a WebSocket port equal to the TCP port', () => {
    const { entry } = terminalCredential('desk-1', ['library-1']);
    const result = TerminalsConfig.safeParse({ port: 1884, wsPort: 1884, terminals: [entry, entry] });
    expect(result.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      'terminals.1.id: terminal "desk-1" is listed twice',
      'wsPort: must differ from port',
    ]);
  });
});
