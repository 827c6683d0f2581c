import { CardUid, type Credential, IsoTime, PublicKey } from '@educard/terminal-sdk';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

const NOT_FOUND = 'check the card id: it is the card_id column of the roster CSV';

const STATUS_CHANGES = [
  ['lost', 'lost', 'report a card lost: every gate denies it from the next update on'],
  ['cancel', 'cancelled', 'cancel a card for good'],
  ['suspend', 'suspended', 'suspend a card for a while'],
  ['reactivate', 'active', 'make a lost or suspended card active again'],
] as const;

async function setStatus(cardId: string, action: string, options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const { status, data } = await bridge.request<{
    cardId: string;
    status: string;
    version: number;
    message?: string;
  }>('POST', `/v1/cards/${encodeURIComponent(cardId)}/${action}`, {
    json: {},
    notFound: NOT_FOUND,
    allow: [409],
  });
  if (status === 409) throw new CliError(`${data.message}: nothing to do`, 1);
  print(
    options.json,
    data,
    () => `card ${cardId} is ${data.status} from roster version ${data.version}; gateways take it at once.`,
  );
}

interface ReissueOptions extends BridgeOptions {
  newCardId: string;
  uid?: string;
  publicKey?: string;
  validUntil?: string;
}

/** A UID as printed on a label or shown by a reader tool: colons, spaces and case do not matter. */
const normaliseUid = (text: string) => text.replace(/[\s:-]/g, '').toUpperCase();

function credentialOf(options: ReissueOptions): Credential {
  const uid = options.uid === undefined ? undefined : normaliseUid(options.uid);
  if (uid !== undefined && !CardUid.safeParse(uid).success)
    throw usageError(
      `--uid ${options.uid} is not a card UID`,
      'a UID is 4, 7 or 10 bytes in hex, e.g. 04A23B1C5D6E80',
    );
  if (options.publicKey !== undefined) {
    if (!PublicKey.safeParse(options.publicKey).success)
      throw usageError(
        '--public-key is not an Ed25519 public key',
        "give the EDU card's key as 43 characters of base64url",
      );
    return { kind: 'edu-cpu', publicKey: options.publicKey, ...(uid ? { uid } : {}) };
  }
  if (uid === undefined)
    throw usageError(
      'the new card needs its credential',
      'give --uid for a UID card, or --public-key (and --uid if known) for an EDU CPU card',
    );
  return { kind: 'uid', uid };
}

async function reissue(cardId: string, options: ReissueOptions): Promise<void> {
  const credential = credentialOf(options);
  if (options.validUntil !== undefined && !IsoTime.safeParse(options.validUntil).success)
    throw usageError(
      `--valid-until ${options.validUntil} is not an ISO time`,
      'e.g. --valid-until 2027-07-31T23:59:59+08:00',
    );
  const bridge = await connect(options);
  const { status, data } = await bridge.request<{
    cardId: string;
    newCardId: string;
    version: number;
    message?: string;
  }>('POST', `/v1/cards/${encodeURIComponent(cardId)}/reissue`, {
    json: {
      newCardId: options.newCardId,
      credential,
      ...(options.validUntil ? { validUntil: options.validUntil } : {}),
    },
    notFound: NOT_FOUND,
    allow: [409],
  });
  if (status === 409) throw new CliError(`${data.message}: nothing was changed`, 1);
  print(
    options.json,
    data,
    () =>
      `card ${cardId} cancelled and ${data.newCardId} active for the same person, in roster version ${data.version}.`,
  );
}

export function registerCards(program: Command): void {
  const cards = example(
    program
      .command('cards')
      .description('one card: report it lost, cancel, suspend, reactivate, or reissue it'),
    'educard-bridge cards lost E000000042',
    'educard-bridge cards reissue E000000042 --new-card-id E000000977 --uid 04A23B1C5D6E80',
  );
  for (const [action, status, description] of STATUS_CHANGES) {
    example(
      bridgeOptions(
        cards
          .command(action)
          .description(`${description} (status ${status}, published at once)`)
          .argument('<card-id>', 'the card id (card_id in the roster CSV)')
          .option('--json', 'print as JSON'),
      ).action((cardId: string, options: BridgeOptions) => setStatus(cardId, action, options)),
      `educard-bridge cards ${action} E000000042`,
    );
  }
  example(
    bridgeOptions(
      cards
        .command('reissue')
        .description(
          'a new card for the same person: the old one cancelled, the new one active with the rest of the old entry',
        )
        .argument('<card-id>', 'the card being replaced')
        .requiredOption('--new-card-id <id>', "the new card's id")
        .option('--uid <hex>', "the new card's UID (colons and spaces are fine)")
        .option('--public-key <key>', "an EDU CPU card's Ed25519 public key (base64url)")
        .option('--valid-until <time>', 'a new end of validity (ISO time); the old one otherwise')
        .option('--json', 'print as JSON'),
    ).action((cardId: string, options: ReissueOptions) => reissue(cardId, options)),
    'educard-bridge cards reissue E000000042 --new-card-id E000000977 --uid 04:A2:3B:1C:5D:6E:80',
  );
}
