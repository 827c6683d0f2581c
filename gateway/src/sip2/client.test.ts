import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTestCertificate, type Sip2TestServer, startSip2Server } from '../testing/index.js';
import { Sip2Client } from './client.js';
import type { Sip2ConfigInput } from './config.js';
import { Sip2LoginRefused, Sip2Unavailable } from './errors.js';

const NOW = Date.UTC(2024, 4, 6, 9, 30, 0);
const DAY = 86_400_000;

let server: Sip2TestServer;
const clients: Sip2Client[] = [];

function library(): Parameters<typeof startSip2Server>[0] {
  return {
    now: () => NOW,
    patrons: [
      { id: 'p1', name: 'Ada Lovelace' },
      { id: 'p2', name: 'Blocked Pupil', blocked: 'Patron has unpaid fines' },
    ],
    items: [
      { id: 'b1', title: 'Dune' },
      { id: 'b2', title: 'Emma' },
      { id: 'b3', title: 'Ulysses', holder: 'p2', dueAt: new Date(NOW + DAY) },
    ],
  };
}

function client(overrides: Partial<Sip2ConfigInput> = {}): Sip2Client {
  const made = new Sip2Client({
    config: {
      host: '127.0.0.1',
      port: server.port,
      user: 'sc',
      password: 'secret',
      institution: 'SCHOOL',
      location: 'DESK1',
      timeoutMs: 300,
      retries: 1,
      timeZone: 'UTC',
      ...overrides,
    },
    now: () => NOW,
  });
  clients.push(made);
  return made;
}

const codes = () => server.received.map((m) => m.code);

beforeEach(async () => {
  server = await startSip2Server(library());
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
});

describe('Sip2Client', () => {
  it('logs in (93) and reads the status (99) on connecting, with sequence numbers and checksums', async () => {
    const sip = client();
    const status = await sip.connect();
    expect(status).toMatchObject({
      online: true,
      checkoutOk: true,
      protocolVersion: '2.00',
      institutionId: 'SCHOOL',
    });
    expect(status.libraryName).toBe('Test Library');
    expect(status.supports.patronInformation).toBe(true);
    expect(codes()).toEqual(['93', '99']);
    const [login, hello] = server.received;
    expect(login?.fields).toEqual([
      ['CN', 'sc'],
      ['CO', 'secret'],
      ['CP', 'DESK1'],
    ]);
    expect(login?.raw).toMatch(/^9300CNsc\|COsecret\|CPDESK1\|AY0AZ[0-9A-F]{4}$/);
    expect(hello?.raw).toMatch(/^9900802\.00AY1AZ[0-9A-F]{4}$/);
    expect(sip.connected).toBe(true);
  });

  it('throws Sip2LoginRefused when the system refuses the login', async () => {
    server.faults.refuseLogin = true;
    await expect(client().connect()).rejects.toBeInstanceOf(Sip2LoginRefused);
    server.faults.refuseLogin = false;
    await expect(client({ password: 'wrong' }).connect()).rejects.toBeInstanceOf(Sip2LoginRefused);
    expect(codes()).toEqual(['93', '93']);
  });

  it('checks out, renews and checks in, reading due dates, titles and the patron', async () => {
    const sip = client();
    const out = await sip.checkout({ patronId: 'p1', itemId: 'b1' });
    expect(out).toMatchObject({ ok: true, itemId: 'b1', patronId: 'p1', title: 'Dune' });
    expect(out.dueDate?.toISOString()).toBe(new Date(NOW + 14 * DAY).toISOString());
    expect(server.items.get('b1')?.holder).toBe('p1');

    const checkout = server.requests('11')[0];
    expect(checkout?.fixed).toBe(`NN20240506   Z093000${' '.repeat(18)}`);
    expect(checkout?.fields).toEqual([
      ['AO', 'SCHOOL'],
      ['AA', 'p1'],
      ['AB', 'b1'],
      ['AC', ''],
    ]);

    const patron = await sip.patron('p1', { list: 'charged' });
    expect(patron).toMatchObject({
      valid: true,
      name: 'Ada Lovelace',
      chargedCount: 1,
      chargedItems: ['b1'],
      blocked: false,
    });

    const renewed = await sip.renew({ patronId: 'p1', itemId: 'b1' });
    expect(renewed).toMatchObject({ ok: true, renewalOk: true, title: 'Dune' });
    expect(server.items.get('b1')?.renewals).toBe(1);

    const item = await sip.itemInformation('b1');
    expect(item).toMatchObject({ circulationStatus: '04', title: 'Dune' });
    expect(item.dueDate?.getTime()).toBe(NOW + 14 * DAY);

    const back = await sip.checkin({ itemId: 'b1' });
    expect(back).toMatchObject({ ok: true, patronId: 'p1', permanentLocation: 'Main', alert: false });
    expect(server.items.get('b1')?.holder).toBeUndefined();
    expect(server.requests('09')[0]?.fields[0]).toEqual(['AP', 'DESK1']);

    const status = await sip.patronStatus('p2');
    expect(status).toMatchObject({ valid: true, blocked: true, flags: ['chargePrivilegesDenied'] });
    expect(codes()).toEqual(['93', '99', '11', '63', '29', '17', '09', '23']);
    // AY counts 0–9 and wraps.
    expect(server.received.map((m) => m.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('sends no-block checkouts with the original date and the due date the station gave', async () => {
    const sip = client();
    const at = new Date(NOW - 2 * DAY);
    const due = new Date(NOW + 5 * DAY);
    const out = await sip.checkout({ patronId: 'p2', itemId: 'b2', noBlock: true, at, nbDueDate: due });
    expect(out.ok).toBe(true);
    expect(out.dueDate?.getTime()).toBe(due.getTime());
    expect(server.requests('11')[0]?.fixed).toBe('NY20240504   Z09300020240511   Z093000');
    const back = await sip.checkin({ itemId: 'b2', noBlock: true, at });
    expect(back.ok).toBe(true);
    expect(server.requests('09')[0]?.fixed).toBe('Y20240504   Z09300020240504   Z093000');
  });

  it('returns a refusal with the system’s screen message', async () => {
    const sip = client();
    const blocked = await sip.checkout({ patronId: 'p2', itemId: 'b1' });
    expect(blocked).toMatchObject({ ok: false, screenMessages: ['Patron has unpaid fines'] });
    server.faults.refuseCheckout = 'Checkouts are closed for stocktaking';
    const refused = await sip.checkout({ patronId: 'p1', itemId: 'b1' });
    expect(refused).toMatchObject({ ok: false, screenMessages: ['Checkouts are closed for stocktaking'] });
    const notOut = await sip.checkin({ itemId: 'b2' });
    expect(notOut).toMatchObject({ ok: false, screenMessages: ['Item not checked out'] });
    const unknown = await sip.patron('nobody');
    expect(unknown.valid).toBe(false);
  });

  it('asks for an answer again (97) when its checksum is wrong', async () => {
    const sip = client();
    await sip.connect();
    server.faults.badChecksum = 1;
    const out = await sip.checkout({ patronId: 'p1', itemId: 'b1' });
    expect(out.ok).toBe(true);
    expect(codes()).toEqual(['93', '99', '11', '97']);
    expect(server.requests('97')[0]?.raw).toBe('97AZFEF5');
  });

  it('sends its request again when the system asks for it (96)', async () => {
    const sip = client();
    await sip.connect();
    server.faults.askResend = 1;
    const out = await sip.checkout({ patronId: 'p1', itemId: 'b1' });
    expect(out.ok).toBe(true);
    const [first, again] = server.requests('11');
    expect(again?.raw).toBe(first?.raw);
  });

  it('gives up with Sip2Unavailable when every answer is garbled', async () => {
    const sip = client({ retries: 2 });
    await sip.connect();
    server.faults.badChecksum = 10;
    await expect(sip.patron('p1')).rejects.toMatchObject({ name: 'Sip2Unavailable', reason: 'protocol' });
  });

  it('times out a stalled request with Sip2Unavailable and connects again for the next', async () => {
    const sip = client({ retries: 0 });
    await sip.connect();
    server.faults.stall = ['11'];
    const error = await sip.checkout({ patronId: 'p1', itemId: 'b1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Sip2Unavailable);
    expect(error).toMatchObject({ reason: 'timeout', sent: true });
    expect(sip.connected).toBe(false);
    server.faults.stall = [];
    expect((await sip.checkout({ patronId: 'p1', itemId: 'b2' })).ok).toBe(true);
    expect(server.connections).toBe(2);
    expect(codes()).toEqual(['93', '99', '11', '93', '99', '11']);
  });

  it('retries a read that stalled, but never a checkout that may have been carried out', async () => {
    const sip = client({ retries: 2 });
    await sip.connect();
    server.faults.stall = ['*'];
    await expect(sip.patron('p1')).rejects.toMatchObject({ reason: 'timeout' });
    // The read was tried three times, each on a new connection (whose login stalled after the first).
    expect(server.requests('63')).toHaveLength(1);
    expect(server.requests('93')).toHaveLength(3);
    server.faults.stall = ['11'];
    await expect(sip.checkout({ patronId: 'p1', itemId: 'b1' })).rejects.toMatchObject({ reason: 'timeout' });
    expect(server.requests('11')).toHaveLength(1);
  });

  it('connects again on the next request after the connection dropped', async () => {
    const sip = client();
    await sip.connect();
    server.dropConnections();
    expect((await sip.patron('p1')).valid).toBe(true);
    expect(server.connections).toBe(2);
    // Dropped while a read was under way: sent again on a new connection.
    server.faults.drop = { code: '63', when: 'before', times: 1 };
    expect((await sip.patron('p1')).valid).toBe(true);
    // Dropped after the checkout was carried out: not sent again, the caller hears it may have been.
    server.faults.drop = { code: '11', when: 'after', times: 1 };
    await expect(sip.checkout({ patronId: 'p1', itemId: 'b1' })).rejects.toMatchObject({
      reason: 'closed',
      sent: true,
    });
    expect(server.requests('11')).toHaveLength(1);
    expect(server.items.get('b1')?.holder).toBe('p1');
    expect((await sip.checkin({ itemId: 'b1' })).ok).toBe(true);
  });

  it('is Sip2Unavailable while the system is down, and works again when it is back', async () => {
    const sip = client({ retries: 1 });
    await sip.connect();
    await server.stop();
    await expect(sip.patron('p1')).rejects.toMatchObject({
      name: 'Sip2Unavailable',
      reason: 'connect',
      sent: false,
    });
    await server.start();
    expect((await sip.patron('p1')).valid).toBe(true);
  });

  it('sends one request at a time, in order, whoever asks', async () => {
    const sip = client();
    const ids = ['p1', 'p2', 'nobody', 'p1', 'p2', 'p1', 'p2', 'p1', 'p2', 'p1', 'p2', 'p1'];
    const answers = await Promise.all(ids.map((id) => sip.patron(id)));
    expect(answers.map((a) => a.patronId)).toEqual(ids);
    expect(server.connections).toBe(1);
    expect(server.requests('63').map((m) => m.sequence)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3]);
  });

  it('works without error detection', async () => {
    const sip = client({ errorDetection: false });
    expect((await sip.checkout({ patronId: 'p1', itemId: 'b1' })).ok).toBe(true);
    expect(server.requests('11')[0]?.raw).toMatch(/AC\|$/);
  });

  it('uses patron status (23) where the system does not support patron information', async () => {
    await server.close();
    server = await startSip2Server({ ...library(), supportedMessages: 'YYYYYYYNYYYYYYYY' });
    const info = await client().patron('p1');
    expect(info.valid).toBe(true);
    expect(codes()).toEqual(['93', '99', '23']);
  });
});

describe('Sip2Client over TLS', () => {
  let dir: string;
  let certificate: Awaited<ReturnType<typeof makeTestCertificate>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sip2-tls-'));
    certificate = await makeTestCertificate(dir);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await server.close();
    server = await startSip2Server({ ...library(), tls: { cert: certificate.cert, key: certificate.key } });
  });

  it('talks SIP2 over TLS to a system whose certificate its CA file vouches for', async () => {
    const sip = client({ tls: { ca: certificate.certFile } });
    expect((await sip.checkout({ patronId: 'p1', itemId: 'b1' })).ok).toBe(true);
    expect(codes()).toEqual(['93', '99', '11']);
  });

  it('refuses a certificate it cannot check, as Sip2Unavailable', async () => {
    const sip = client({ tls: {}, retries: 0 });
    await expect(sip.connect()).rejects.toMatchObject({ name: 'Sip2Unavailable', reason: 'connect' });
    expect(server.received).toEqual([]);
  });

  it('does not talk plain SIP2 to a TLS port', async () => {
    const sip = client({ retries: 0 });
    await expect(sip.connect()).rejects.toBeInstanceOf(Sip2Unavailable);
  });
});
