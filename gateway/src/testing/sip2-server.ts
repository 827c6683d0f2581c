import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';

/**
 * A small library system (ACS) speaking SIP2 for the tests: patrons, items and loans in memory, over
 * TCP or TLS on loopback, with fault switches (refuse the login, refuse checkouts with a screen
 * message, corrupt a checksum, ask for a resend, stall, drop the connection, be down).
 *
 * Its codec is its own, written from the 3M SIP2 specification apart from the gateway's, so that the
 * client is checked against a second reading of the spec rather than against itself.
 */

export interface TestPatron {
  id: string;
  name?: string;
  password?: string;
  /** A block set in the library system: checkouts are refused with this screen message. */
  blocked?: string;
  loanLimit?: number;
}

export interface TestItem {
  id: string;
  title: string;
  /** The patron holding it. */
  holder?: string;
  dueAt?: Date;
  renewals?: number;
}

export interface Sip2ServerOptions {
  /** 0 (the default) picks a free port; `start()` after `stop()` reuses it. */
  port?: number;
  /** PEM contents: listens with TLS when given. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** SIP2 logins, user → password. */
  users?: Record<string, string>;
  institution?: string;
  patrons?: TestPatron[];
  items?: TestItem[];
  loanDays?: number;
  maxRenewals?: number;
  /** BX: the 16 Y/N flags of supported messages. */
  supportedMessages?: string;
  now?: () => number;
}

/** A request as the server read it. */
export interface ReceivedMessage {
  code: string;
  /** The text after the code, up to the first variable field. */
  fixed: string;
  fields: [string, string][];
  sequence?: number;
  /** The connection it came on: 1 for the first one the server accepted. */
  connection: number;
  /** The frame, without its CR. */
  raw: string;
}

/** A checkout, checkin or renewal the server carried out. */
export interface CirculationRecord {
  code: '11' | '09' | '29';
  itemId: string;
  /** The patron it was lent or renewed to, or taken back from. */
  patronId: string;
  /** Sent as an offline transaction (no block = Y). */
  noBlock: boolean;
}

/** Fault switches: set them between requests; counts go down as each fault is used. */
export interface Sip2Faults {
  refuseLogin: boolean;
  /** Every ordinary (not no-block) checkout is refused with this screen message. */
  refuseCheckout: string | undefined;
  /**
   * No-block (offline) checkouts of an item on loan to another patron are refused with this screen
   * message, as some systems do, rather than taken from the other patron.
   */
  refuseNoBlockOfLentItem: string | undefined;
  /** The next N answers go out with a wrong checksum (a 97 gets the right one). */
  badChecksum: number;
  /** The next N requests are answered with 96 (request SC resend). */
  askResend: number;
  /** Requests with these codes ('*' for all) are never answered. */
  stall: string[];
  /**
   * Close the connection on a request with this code (and item, AB, when given), before or after
   * carrying it out, `times` times.
   */
  drop: { code: string; itemId?: string; when: 'before' | 'after'; times: number } | undefined;
  /** ACS status says off line. */
  offline: boolean;
}

export interface Sip2TestServer {
  readonly port: number;
  readonly institution: string;
  readonly patrons: Map<string, TestPatron>;
  readonly items: Map<string, TestItem>;
  readonly faults: Sip2Faults;
  /** Every request read, in order (bad-checksum ones and 97s included). */
  readonly received: ReceivedMessage[];
  /** Every checkout, checkin and renewal carried out, in order (not the refused, stalled or dropped-before ones). */
  readonly circulation: CirculationRecord[];
  /** How many connections were accepted. */
  readonly connections: number;
  /** Requests with this code, optionally for one item (AB). */
  requests(code: string, itemId?: string): ReceivedMessage[];
  /** Closes every open connection (the server keeps listening). */
  dropConnections(): void;
  /** Down: stops listening and closes every connection; the port refuses connections. */
  stop(): Promise<void>;
  /** Up again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

// — the server's own codec —

const REQUEST_FIXED: Record<string, number> = {
  '93': 2,
  '99': 8,
  '23': 21,
  '63': 31,
  '11': 38,
  '09': 37,
  '29': 38,
  '17': 18,
  '35': 18,
  '97': 0,
};

function sum16(text: string): string {
  let total = 0;
  for (const byte of Buffer.from(text, 'utf8')) total += byte;
  return (0x10000 - (total & 0xffff)).toString(16).toUpperCase().padStart(4, '0').slice(-4);
}

function parseRequest(raw: string, connection: number): ReceivedMessage & { checksumOk: boolean } {
  let text = raw;
  let checksumOk = true;
  let sequence: number | undefined;
  const az = text.match(/AZ([0-9A-Fa-f]{4})$/);
  if (az) {
    checksumOk = sum16(text.slice(0, -4)) === az[1]?.toUpperCase();
    text = text.slice(0, -6);
  }
  const ay = text.match(/AY(\d)$/);
  if (ay) {
    sequence = Number(ay[1]);
    text = text.slice(0, -3);
  }
  const code = text.slice(0, 2);
  const length = REQUEST_FIXED[code] ?? 0;
  const fixed = text.slice(2, 2 + length);
  const fields = text
    .slice(2 + length)
    .split('|')
    .filter((part) => part.length >= 2)
    .map((part) => [part.slice(0, 2), part.slice(2)] as [string, string]);
  return {
    code,
    fixed,
    fields,
    ...(sequence === undefined ? {} : { sequence }),
    connection,
    raw,
    checksumOk,
  };
}

const get = (message: ReceivedMessage, tag: string) => message.fields.find(([t]) => t === tag)?.[1];

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Dates the way Koha sends them: `YYYYMMDD    HHMMSS`, blank zone, here the UTC wall clock. */
function sipDate(epochMs: number): string {
  const d = new Date(epochMs);
  return `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}    ${pad2(d.getUTCHours())}${pad2(
    d.getUTCMinutes(),
  )}${pad2(d.getUTCSeconds())}`;
}

function readSipDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2}).{4}(\d{2})(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function frame(body: string, sequence: number | undefined, corrupt = false): string {
  let text = body;
  if (body.startsWith('96')) text += 'AZ';
  else text += `${sequence === undefined ? '' : `AY${sequence}`}AZ`;
  let sum = sum16(text);
  if (corrupt) sum = sum === '0000' ? '0001' : '0000';
  return `${text}${sum}\r`;
}

const DAY = 86_400_000;

export async function startSip2Server(options: Sip2ServerOptions = {}): Promise<Sip2TestServer> {
  const now = options.now ?? Date.now;
  const institution = options.institution ?? 'SCHOOL';
  const users = options.users ?? { sc: 'secret' };
  const loanDays = options.loanDays ?? 14;
  const maxRenewals = options.maxRenewals ?? 2;
  const supported = options.supportedMessages ?? 'YYYYYYYYYYYYYYYY';
  const patrons = new Map((options.patrons ?? []).map((p) => [p.id, { ...p }]));
  const items = new Map((options.items ?? []).map((i) => [i.id, { ...i }]));
  const faults: Sip2Faults = {
    refuseLogin: false,
    refuseCheckout: undefined,
    refuseNoBlockOfLentItem: undefined,
    badChecksum: 0,
    askResend: 0,
    stall: [],
    drop: undefined,
    offline: false,
  };
  const received: ReceivedMessage[] = [];
  const circulation: CirculationRecord[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let port = options.port ?? 0;

  const loansOf = (patronId: string) => [...items.values()].filter((item) => item.holder === patronId);

  /** The answer's body (without AY/AZ), or undefined for a request that gets none. */
  function answer(request: ReceivedMessage): string | undefined {
    const date = sipDate(now());
    const f = request.fixed;
    const ao = `AO${institution}|`;
    switch (request.code) {
      case '99':
        return `98${faults.offline ? 'N' : 'Y'}YYYNN010003${date}2.00${ao}AMTest Library|BX${supported}|`;
      case '23':
      case '63': {
        const patronId = get(request, 'AA') ?? '';
        const patron = patrons.get(patronId);
        const loans = patron ? loansOf(patronId) : [];
        const overdue = loans.filter((item) => (item.dueAt?.getTime() ?? Number.POSITIVE_INFINITY) < now());
        const status = `${patron?.blocked ? 'Y' : ' '}${' '.repeat(13)}`;
        const who = patron
          ? `AA${patronId}|AE${patron.name ?? patronId}|BLY|`
          : `AA${patronId}|AE|BLN|AFUnknown patron|`;
        if (request.code === '23') return `24${status}000${date}${ao}${who}`;
        const counts = [0, overdue.length, loans.length, 0, 0, 0]
          .map((n) => String(n).padStart(4, '0'))
          .join('');
        const summary = f.slice(21, 31);
        let list = '';
        if (summary[1] === 'Y') list = overdue.map((item) => `AT${item.id}|`).join('');
        if (summary[2] === 'Y') list = loans.map((item) => `AU${item.id}|`).join('');
        const limit =
          patron?.loanLimit === undefined ? '' : `CB${String(patron.loanLimit).padStart(4, '0')}|`;
        const blocked = patron?.blocked ? `AF${patron.blocked}|` : '';
        return `64${status}000${date}${counts}${ao}${who}${limit}${list}${blocked}`;
      }
      case '11': {
        const noBlock = f[1] === 'Y';
        const nbDue = readSipDate(f.slice(20, 38));
        const patronId = get(request, 'AA') ?? '';
        const itemId = get(request, 'AB') ?? '';
        const patron = patrons.get(patronId);
        const item = items.get(itemId);
        const refuse = (message: string) =>
          `120NNN${date}${ao}AA${patronId}|AB${itemId}|AJ${item?.title ?? ''}|AH|AF${message}|`;
        if (!item) return refuse('Item not found');
        if (!noBlock) {
          if (faults.refuseCheckout) return refuse(faults.refuseCheckout);
          if (!patron) return refuse('Invalid patron');
          if (patron.blocked) return refuse(patron.blocked);
          if (item.holder && item.holder !== patronId) return refuse('Item checked out to another patron');
          if (
            !item.holder &&
            patron.loanLimit !== undefined &&
            loansOf(patronId).length >= patron.loanLimit
          ) {
            return refuse('Too many items checked out');
          }
        } else if (faults.refuseNoBlockOfLentItem && item.holder && item.holder !== patronId) {
          return refuse(faults.refuseNoBlockOfLentItem);
        }
        if (item.holder !== patronId) {
          item.holder = patronId;
          item.renewals = 0;
          item.dueAt = new Date(noBlock && nbDue !== undefined ? nbDue : now() + loanDays * DAY);
          circulation.push({ code: '11', itemId, patronId, noBlock });
        }
        return `121NNY${date}${ao}AA${patronId}|AB${itemId}|AJ${item.title}|AH${sipDate(item.dueAt?.getTime() ?? now())}|`;
      }
      case '09': {
        const itemId = get(request, 'AB') ?? '';
        const item = items.get(itemId);
        if (!item) return `100NUN${date}${ao}AB${itemId}|AQ|AFUnknown item|`;
        if (!item.holder)
          return `100YNN${date}${ao}AB${itemId}|AQMain|AJ${item.title}|AFItem not checked out|`;
        const holder = item.holder;
        item.holder = undefined;
        item.dueAt = undefined;
        circulation.push({ code: '09', itemId, patronId: holder, noBlock: f[0] === 'Y' });
        return `101YNN${date}${ao}AB${itemId}|AQMain|AJ${item.title}|AA${holder}|`;
      }
      case '29': {
        const noBlock = f[1] === 'Y';
        const nbDue = readSipDate(f.slice(20, 38));
        const patronId = get(request, 'AA') ?? '';
        const itemId = get(request, 'AB') ?? '';
        const item = items.get(itemId);
        const refuse = (message: string) =>
          `300NUN${date}${ao}AA${patronId}|AB${itemId}|AJ${item?.title ?? ''}|AH|AF${message}|`;
        if (!item) return refuse('Item not found');
        if (item.holder !== patronId) return refuse('Item not checked out to this patron');
        if (!noBlock && (item.renewals ?? 0) >= maxRenewals) return refuse('Renewal limit reached');
        item.renewals = (item.renewals ?? 0) + 1;
        item.dueAt = new Date(noBlock && nbDue !== undefined ? nbDue : now() + loanDays * DAY);
        circulation.push({ code: '29', itemId, patronId, noBlock });
        return `301YNY${date}${ao}AA${patronId}|AB${itemId}|AJ${item.title}|AH${sipDate(item.dueAt.getTime())}|`;
      }
      case '17': {
        const itemId = get(request, 'AB') ?? '';
        const item = items.get(itemId);
        if (!item) return `18010000${date}AB${itemId}|AJ|AFUnknown item|`;
        const due = item.dueAt ? `AH${sipDate(item.dueAt.getTime())}|` : '';
        return `18${item.holder ? '04' : '03'}0000${date}AB${itemId}|AJ${item.title}|${due}`;
      }
      case '35':
        return `36Y${date}${ao}AA${get(request, 'AA') ?? ''}|`;
      default:
        return undefined;
    }
  }

  function serve(socket: Socket): void {
    connections += 1;
    const connection = connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let loggedIn = false;
    let buffer = '';
    let last: { body: string; sequence: number | undefined } | undefined;

    const transmit = (body: string, sequence: number | undefined) => {
      const corrupt = faults.badChecksum > 0;
      if (corrupt) faults.badChecksum -= 1;
      socket.write(frame(body, sequence, corrupt));
    };
    const send = (body: string, sequence: number | undefined) => {
      last = { body, sequence };
      transmit(body, sequence);
    };

    const handle = (raw: string) => {
      const request = parseRequest(raw, connection);
      const { checksumOk, ...logged } = request;
      received.push(logged);
      if (!checksumOk) return transmit('96', undefined);
      if (request.code === '97') {
        if (last) transmit(last.body, last.sequence);
        return;
      }
      if (faults.askResend > 0) {
        faults.askResend -= 1;
        return transmit('96', undefined);
      }
      const drop =
        faults.drop &&
        faults.drop.code === request.code &&
        faults.drop.times > 0 &&
        (faults.drop.itemId === undefined || faults.drop.itemId === get(request, 'AB'))
          ? faults.drop
          : undefined;
      if (drop?.when === 'before') {
        drop.times -= 1;
        socket.destroy();
        return;
      }
      if (faults.stall.includes('*') || faults.stall.includes(request.code)) return;
      if (request.code === '93') {
        const ok = !faults.refuseLogin && users[get(request, 'CN') ?? ''] === get(request, 'CO');
        loggedIn = ok;
        return send(`94${ok ? '1' : '0'}`, request.sequence);
      }
      // Like Koha: nothing but a login on a connection that has not logged in.
      if (!loggedIn) {
        socket.destroy();
        return;
      }
      const body = answer(request);
      if (drop?.when === 'after') {
        drop.times -= 1;
        socket.destroy();
        return;
      }
      if (body === undefined) {
        socket.destroy();
        return;
      }
      send(body, request.sequence);
    };

    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r'); end >= 0; end = buffer.indexOf('\r')) {
        const raw = buffer.slice(0, end).replace(/^\n+/, '');
        buffer = buffer.slice(end + 1);
        if (raw !== '' && !socket.destroyed) handle(raw);
      }
    });
  }

  let server: Server | undefined;

  async function start(): Promise<void> {
    const created = options.tls
      ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, serve)
      : createTcpServer(serve);
    await new Promise<void>((resolve, reject) => {
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => {
        created.off('error', reject);
        resolve();
      });
    });
    port = (created.address() as { port: number }).port;
    server = created;
  }

  async function stop(): Promise<void> {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  }

  await start();

  return {
    get port() {
      return port;
    },
    institution,
    patrons,
    items,
    faults,
    received,
    circulation,
    get connections() {
      return connections;
    },
    requests: (code, itemId) =>
      received.filter(
        (message) => message.code === code && (itemId === undefined || get(message, 'AB') === itemId),
      ),
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    stop,
    start,
    close: stop,
  };
}

/**
 * A self-signed certificate for 127.0.0.1 made with the openssl command (Node cannot make X.509
 * certificates): `cert` is also the CA a client trusts.
 */
export async function makeTestCertificate(
  dir: string,
  name = 'sip2',
): Promise<{ certFile: string; keyFile: string; cert: Buffer; key: Buffer }> {
  const certFile = join(dir, `${name}-cert.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  const run = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name} test library system`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`openssl: ${run.stderr || run.error?.message}`);
  return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
}
