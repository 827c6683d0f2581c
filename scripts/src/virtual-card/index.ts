import { randomBytes } from 'node:crypto';
import { generateKeyPair, issueCardCertificate, nativeEd25519, toBase64Url } from '@educard/terminal-sdk';
import { VirtualCard, type VirtualCardOptions, VPCD_PORT } from '@educard/terminal-sdk/virtual-card';
import { parseCommandLine, usageFailure } from '../command-line.js';

const USAGE = `usage: npm run virtual-card -- [options]

Holds a virtual contactless card (or a library book's ISO 15693 tag) to one of vsmartcard's virtual
readers (pcscd with vsmartcard-vpcd must be running), answers what the reader sends, and takes it
away after --hold seconds or on Enter. Use it to check a gateway's PC/SC set-up without a physical
card.

options:
  --reader N           virtual reader 0 or 1 (TCP ${VPCD_PORT} + N)          [0]
  --port P             vpcd's port, instead of --reader
  --host H             vpcd's host                                   [127.0.0.1]
  --uid HEX            the UID, 4, 7 or 10 bytes                      [random, 7 bytes]
  --edu                an EDU CPU card (else a UID-only card)
  --tag                an ISO 15693 book tag instead of a card: its UID is the
                       book's item id, 8 bytes written E0 first      [random, E00401…]
  --card-number TEXT   the EDU card's number                          [with --edu: required]
  --seed HEX           the card key's 32-byte seed                    [random]
  --issuer-seed HEX    the issuer key's 32-byte seed                  [random]
  --valid-from DATE    first day of the certificate, YYYY-MM-DD       [today]
  --valid-until DATE   last day of the certificate, YYYY-MM-DD        [five years after --valid-from]
  --fault F            garbage | removed-mid-exchange | wrong-key
  --hold SECONDS       take the card away after this long             [on Enter]
  --json               print the card and the result as JSON
  -h, --help

examples: npm run virtual-card -- --edu --card-number E000000001 --hold 3
          npm run virtual-card -- --tag --uid E004010012345678 --hold 3`;

const hex = (name: string, text: string | undefined, lengths: number[]): Uint8Array | undefined => {
  if (text === undefined) return undefined;
  const bytes = Buffer.from(text, 'hex');
  if (!/^([0-9a-f]{2})+$/i.test(text) || !lengths.includes(bytes.length))
    throw new UsageError(`--${name} must be ${lengths.join(', ')} bytes of hex`);
  return new Uint8Array(bytes);
};

class UsageError extends Error {}

async function main(): Promise<number> {
  const parsed = parseCommandLine(
    {
      options: {
        reader: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        uid: { type: 'string' },
        edu: { type: 'boolean' },
        tag: { type: 'boolean' },
        'card-number': { type: 'string' },
        seed: { type: 'string' },
        'issuer-seed': { type: 'string' },
        'valid-from': { type: 'string' },
        'valid-until': { type: 'string' },
        fault: { type: 'string' },
        hold: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const values: Record<string, string | boolean | undefined> = parsed.values;
  let options: VirtualCardOptions;
  let described: Record<string, unknown>;
  try {
    ({ options, described } = cardFrom(values));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageFailure(error.message, USAGE);
  }
  const card = new VirtualCard(options);
  try {
    await card.presentCard();
  } catch (error) {
    process.stderr.write(
      `cannot reach vpcd at ${options.host ?? '127.0.0.1'}:${options.port} (${(error as Error).message}).\n` +
        'Is pcscd running with vsmartcard-vpcd? As root: apt-get install -y pcscd vsmartcard-vpcd && pcscd\n',
    );
    return 1;
  }
  if (!values.json) process.stdout.write(`card presented: ${JSON.stringify(described)}\n`);
  const hold = values.hold === undefined ? undefined : Number(values.hold);
  await new Promise<void>((resolve) => {
    if (hold !== undefined) setTimeout(resolve, hold * 1000);
    else {
      process.stdout.write('press Enter to take the card away\n');
      process.stdin.once('data', () => resolve());
    }
  });
  const apdus = card.apdus;
  await card.removeCard();
  process.stdin.unref();
  if (values.json) process.stdout.write(`${JSON.stringify({ ...described, apdusAnswered: apdus })}\n`);
  else process.stdout.write(`card removed after answering ${apdus} APDU(s)\n`);
  if (apdus === 0) {
    process.stderr.write('no APDU reached the card: is a gateway (or pcsc_scan) watching this reader?\n');
  }
  return 0;
}

function cardFrom(values: Record<string, string | boolean | undefined>) {
  const port =
    values.port !== undefined ? Number(values.port) : VPCD_PORT + Number((values.reader as string) ?? 0);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new UsageError('--port or --reader is not valid');
  if (values.tag) {
    if (values.edu || values.fault !== undefined) throw new UsageError('--tag takes no --edu nor --fault');
    // ISO 15693: E0, the manufacturer (04: NXP), the chip (01: ICODE SLI), then the serial number.
    const uid =
      hex('uid', values.uid as string | undefined, [8]) ??
      Uint8Array.from([0xe0, 0x04, 0x01, ...randomBytes(5)]);
    const options: VirtualCardOptions = {
      uid,
      tag: 'iso15693',
      port,
      ...(values.host ? { host: values.host as string } : {}),
    };
    return {
      options,
      described: { port, tag: 'iso15693', itemId: Buffer.from(uid).toString('hex').toUpperCase() },
    };
  }
  const uid = hex('uid', values.uid as string | undefined, [4, 7, 10]) ?? new Uint8Array(randomBytes(7));
  const faults = ['garbage', 'removed-mid-exchange', 'wrong-key'];
  const fault = values.fault as string | undefined;
  if (fault !== undefined && !faults.includes(fault))
    throw new UsageError(`--fault is one of ${faults.join(', ')}`);
  if (values.hold !== undefined && !(Number(values.hold) > 0))
    throw new UsageError('--hold takes seconds, > 0');
  const options: VirtualCardOptions = { uid, port, ...(values.host ? { host: values.host as string } : {}) };
  if (fault) options.fault = fault as VirtualCardOptions['fault'];
  const described: Record<string, unknown> = { port, uid: Buffer.from(uid).toString('hex').toUpperCase() };
  if (!values.edu) return { options, described };
  const cardNumber = values['card-number'] as string | undefined;
  if (!cardNumber) throw new UsageError('--edu needs --card-number');
  const seed = hex('seed', values.seed as string | undefined, [32]) ?? generateKeyPair().seed;
  const issuerSeed =
    hex('issuer-seed', values['issuer-seed'] as string | undefined, [32]) ?? generateKeyPair().seed;
  // A technician's card is valid from today, by the machine's clock; a gateway whose clock is behind
  // (or a test on a clock of its own) needs --valid-from.
  const validFrom = (values['valid-from'] as string | undefined) ?? new Date().toISOString().slice(0, 10);
  const validUntil = (values['valid-until'] as string | undefined) ?? fiveYearsOn(validFrom);
  const publicKey = nativeEd25519.keyPairFromSeed(seed).publicKey;
  let certificate: Uint8Array;
  try {
    certificate = issueCardCertificate({
      cardNumber,
      publicKey,
      issuer: nativeEd25519.keyPairFromSeed(issuerSeed),
      notBefore: validFrom,
      notAfter: validUntil,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  options.edu = { cardNumber, seed, certificate };
  // The roster binds the card number to this key: what a technician enters for a test card.
  Object.assign(described, { cardNumber, publicKey: toBase64Url(publicKey), validFrom, validUntil });
  return { options, described };
}

/** The day before the same date five years on: a five-year certificate. */
function fiveYearsOn(date: string): string {
  const start = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(start)) throw new UsageError('--valid-from must be a date, YYYY-MM-DD');
  const end = new Date(start);
  end.setUTCFullYear(end.getUTCFullYear() + 5);
  return new Date(end.getTime() - 86_400_000).toISOString().slice(0, 10);
}

process.exitCode = await main();
