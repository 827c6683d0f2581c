import { Duplex, PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Sip2Client } from './client.js';
import { decodeMessage, encodeFrame, FrameReader, type Sip2Message } from './codec.js';
import type { Sip2ConfigInput } from './config.js';
import { Sip2Unavailable } from './errors.js';

// The client over an injected stream: a scripted library system on the far side of an in-memory
// duplex, so framing, resends and retries are tested without a socket.

const config: Sip2ConfigInput = {
  host: 'ils.school.example',
  user: 'sc',
  password: 'secret',
  institution: 'MAIN',
  timeZone: 'UTC',
  timeoutMs: 2_000,
  retries: 2,
};

type Answer = (request: Sip2Message) => Sip2Message | Buffer;

const STANDARD: Record<string, Answer> = {
  '93': () => ({ code: '94', fixed: { ok: '1' }, fields: [] }),
  '99': () => ({
    code: '98',
    fixed: {
      onlineStatus: 'Y',
      checkinOk: 'Y',
      checkoutOk: 'Y',
      acsRenewalPolicy: 'N',
      statusUpdateOk: 'N',
      offlineOk: 'Y',
      timeoutPeriod: '010',
      retriesAllowed: '003',
      dateTimeSync: '20240506   Z093000',
      protocolVersion: '2.00',
    },
    fields: [['AO', 'MAIN']],
  }),
  '17': (request) => ({
    code: '18',
    fixed: {
      circulationStatus: '03',
      securityMarker: '00',
      feeType: '01',
      transactionDate: '20240506   Z093000',
    },
    fields: [
      ['AB', request.fields.find(([tag]) => tag === 'AB')?.[1] ?? ''],
      ['AJ', 'Dune'],
    ],
  }),
};

/** A library system scripted per request code; records what it read, in order. */
function scriptedSystem(answers: Record<string, Answer> = {}) {
  const received: Sip2Message[] = [];
  const streams: Duplex[] = [];
  const connect = async () => {
    const toSystem = new PassThrough();
    const fromSystem = new PassThrough();
    const frames = new FrameReader();
    toSystem.on('data', (chunk: Buffer) => {
      for (const frame of frames.push(chunk)) {
        const request = decodeMessage(frame);
        received.push(request);
        const answer = (answers[request.code] ?? STANDARD[request.code])?.(request);
        if (!answer) continue;
        fromSystem.write(
          Buffer.isBuffer(answer)
            ? answer
            : encodeFrame({ ...answer, sequence: request.sequence ?? 0 }, { errorDetection: true }),
        );
      }
    });
    const stream = Duplex.from({ readable: fromSystem, writable: toSystem });
    streams.push(stream);
    return stream;
  };
  return { connect, received, streams };
}

const clients: Sip2Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function clientOver(connect: () => Promise<Duplex>): Sip2Client {
  const client = new Sip2Client({ config, connect, now: () => Date.UTC(2024, 4, 6, 9, 30) });
  clients.push(client);
  return client;
}

describe('the SIP2 client over an injected connection', () => {
  it('logs in, reads the status and asks its request on the stream it was given', async () => {
    const system = scriptedSystem();
    const client = clientOver(system.connect);
    const item = await client.itemInformation('b1');
    expect(item).toMatchObject({ itemId: 'b1', title: 'Dune', circulationStatus: '03' });
    expect(system.received.map((m) => m.code)).toEqual(['93', '99', '17']);
    expect(system.received.map((m) => m.sequence)).toEqual([0, 1, 2]);
    expect(client.acsStatus?.online).toBe(true);
    expect(client.connected).toBe(true);
  });

  it('asks for an answer again (97) when its checksum is wrong, and takes the good one', async () => {
    let asked: Sip2Message | undefined;
    const answerItem = (request: Sip2Message) =>
      encodeFrame(
        { ...(STANDARD['17'] as Answer)(request), sequence: request.sequence ?? 0 } as Sip2Message,
        {
          errorDetection: true,
        },
      );
    const system = scriptedSystem({
      '17': (request) => {
        asked = request;
        // The four characters before the CR are the checksum: one changed digit breaks it.
        const text = answerItem(request).toString('latin1');
        const at = text.length - 2;
        return Buffer.from(`${text.slice(0, at)}${text[at] === '0' ? '1' : '0'}\r`, 'latin1');
      },
      '97': () => answerItem(asked as Sip2Message),
    });
    const client = clientOver(system.connect);
    const item = await client.itemInformation('b1');
    expect(item.title).toBe('Dune');
    expect(system.received.map((m) => m.code)).toEqual(['93', '99', '17', '97']);
    expect(system.streams).toHaveLength(1);
  });

  it('turns a failing connect into Sip2Unavailable (connect) and tries again as configured', async () => {
    let attempts = 0;
    const client = clientOver(async () => {
      attempts++;
      throw new Error('no route to host');
    });
    const failure = await client.itemInformation('b1').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Sip2Unavailable);
    expect(failure).toMatchObject({ reason: 'connect', sent: false });
    expect((failure as Error).message).toMatch(/no route to host/);
    expect(attempts).toBe(3);
  });

  it('connects again after the system drops the stream, sending a read again', async () => {
    const system = scriptedSystem({
      '17': (request) => {
        if (system.streams.length === 1) {
          system.streams[0]?.destroy();
          return Buffer.alloc(0);
        }
        return (STANDARD['17'] as Answer)(request);
      },
    });
    const client = clientOver(system.connect);
    const item = await client.itemInformation('b1');
    expect(item.title).toBe('Dune');
    expect(system.streams).toHaveLength(2);
    expect(system.received.map((m) => m.code)).toEqual(['93', '99', '17', '93', '99', '17']);
  });
});
