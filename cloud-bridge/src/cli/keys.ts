import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  describeIssues,
  type Ed25519KeyPair,
  fromBase64Url,
  KeyRole,
  keyIdOf,
  PublicKey,
  RosterKeySet,
  signDocument,
} from '@educard/terminal-sdk';
import { CliError, example, print, table, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { parseRootKeyFile } from '../roster/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface KeysView {
  anchor: { keys: { keyId: string }[]; threshold: number };
  fingerprint: string;
  keySetVersion: number;
  rosterKeyIds: string[];
  commandKeyIds: string[];
  rootOnBridge: boolean;
  keySets: {
    version: number;
    issuedAt: string;
    rootKeyIds: string[];
    rootThreshold: number;
    rosterKeyIds: string[];
    cardIssuerKeyIds: string[];
    commandKeyIds?: string[];
  }[];
}

async function show(options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<KeysView>('GET', '/v1/keys');
  print(options.json, data, () =>
    [
      `anchor fingerprint  ${data.fingerprint}`,
      `root keys           ${data.anchor.keys.map((k) => k.keyId).join(', ')} (threshold ${data.anchor.threshold})`,
      `key set in force    ${data.keySetVersion}`,
      `roster key          ${data.rosterKeyIds.join(', ')}`,
      `command key         ${data.commandKeyIds.join(', ') || 'none: gateways refuse commands until the keys are rotated'}`,
      ...(data.rootOnBridge
        ? [
            'warning: the root key is on the bridge (its keys were made on first start, not by `educard-bridge init`)',
          ]
        : []),
      '',
      table(
        ['key set', 'issued', 'root keys', 'roster keys', 'command keys', 'card issuers'],
        data.keySets.map((k) => [
          k.version,
          k.issuedAt,
          `${k.rootKeyIds.join(' ')} (${k.rootThreshold})`,
          k.rosterKeyIds.join(' '),
          k.commandKeyIds?.join(' ') ?? '-',
          k.cardIssuerKeyIds.join(' ') || '-',
        ]),
      ),
    ].join('\n'),
  );
}

async function readRootKey(file: string): Promise<Ed25519KeyPair[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw usageError(
      code === 'ENOENT' ? `no root key file at ${file}` : `cannot read the root key file ${file} (${code})`,
      'pass the file `educard-bridge init` wrote with --root-key-out (for a bridge that made its own keys, its dataDir/roster-keys.json)',
    );
  }
  try {
    return parseRootKeyFile(text);
  } catch (error) {
    throw usageError(
      `${file} is not a root key file: ${(error as Error).message}`,
      'a root key file reads {"root": ["<base64url seed>"]}: pass the one init wrote with --root-key-out',
    );
  }
}

/** A card issuers file: `{"cardIssuers": ["<base64url raw Ed25519 public key>", ...]}`, from the card centres. */
async function readCardIssuers(file: string): Promise<KeyRole> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw usageError(`cannot read the card issuers file ${file} (${error.code})`, CARD_ISSUERS_HINT);
  });
  let keys: string[];
  try {
    const value = JSON.parse(text) as { cardIssuers?: unknown };
    if (!Array.isArray(value.cardIssuers) || value.cardIssuers.length === 0 || value.cardIssuers.length > 16)
      throw new Error('"cardIssuers" must list 1 to 16 keys');
    keys = value.cardIssuers.map((key) => PublicKey.parse(key));
  } catch (error) {
    throw usageError(`${file} is not a card issuers file: ${(error as Error).message}`, CARD_ISSUERS_HINT);
  }
  return {
    keys: keys.map((publicKey) => ({ keyId: keyIdOf(fromBase64Url(publicKey)), publicKey })),
    threshold: 1,
  };
}

const CARD_ISSUERS_HINT =
  'a card issuers file reads {"cardIssuers": ["<base64url Ed25519 public key>", ...]}: every issuer whose cards venues admit';

async function rotate(options: BridgeOptions & { rootKey: string; cardIssuers?: string }): Promise<void> {
  const file = resolve(options.rootKey);
  // Everything that can be checked before the bridge is asked to change anything is checked first.
  const root = await readRootKey(file);
  const issuers = options.cardIssuers ? await readCardIssuers(resolve(options.cardIssuers)) : undefined;
  const bridge = await connect(options);
  const { data: before } = await bridge.request<KeysView & { anchor: unknown }>('GET', '/v1/keys');
  const current = before.keySets.at(-1) as KeysView['keySets'][number];
  const signers = root.filter((k) => current.rootKeyIds.includes(keyIdOf(k.publicKey)));
  if (signers.length < current.rootThreshold) {
    throw new CliError(
      `${file} holds root key(s) ${root.map((k) => keyIdOf(k.publicKey)).join(', ')}; key set ${current.version} of the bridge at ${bridge.url} needs ${current.rootThreshold} of ${current.rootKeyIds.join(', ')}: nothing was changed`,
      1,
      `use the root key file made for this bridge (anchor fingerprint ${before.fingerprint})`,
    );
  }
  const { data: prepared } = await bridge.request<{ pendingId: string; keySet: RosterKeySet }>(
    'POST',
    '/v1/keys/roster/rotate/prepare',
    { json: issuers ? { cardIssuers: issuers } : {} },
  );
  // Signed only when it is what a rotation of the roster key must be: the next version, the same root,
  // and the card issuers asked for (or those in force).
  const next = RosterKeySet.safeParse(prepared.keySet);
  const issuerIds = (role: { keys: { keyId: string }[] } | undefined) =>
    JSON.stringify(role?.keys.map((k) => k.keyId) ?? []);
  if (
    !next.success ||
    next.data.version !== current.version + 1 ||
    next.data.root.threshold !== current.rootThreshold ||
    JSON.stringify(next.data.root.keys.map((k) => k.keyId)) !== JSON.stringify(current.rootKeyIds) ||
    issuerIds(next.data.cardIssuers) !==
      (issuers ? issuerIds(issuers) : JSON.stringify(current.cardIssuerKeyIds ?? []))
  ) {
    throw new CliError(
      `the bridge prepared a key set that is not key set ${current.version + 1} with the root keys of ${current.version}: not signed`,
      1,
      'another rotation may be under way: run `educard-bridge keys show`, then rotate again',
    );
  }
  const envelope = signDocument(next.data, signers);
  const { status, data } = await bridge.request<{
    version: number;
    rosterKeyIds: string[];
    retiredKeyIds: string[];
    reissued: { school: string; version: number }[];
    message?: string;
  }>('POST', '/v1/keys/keysets', {
    json: { pendingId: prepared.pendingId, keySet: envelope },
    allow: [409, 422],
    timeoutMs: 600_000,
  });
  if (status !== 200) {
    throw new CliError(
      `the bridge refused the key set: ${data.message}; nothing was changed`,
      1,
      'run `educard-bridge keys rotate` again; if it is refused again, check the root key file',
    );
  }
  print(options.json, data, () =>
    [
      `key set ${data.version} in force: roster key ${data.rosterKeyIds.join(', ')} signs from now on; ${data.retiredKeyIds.join(', ')} retired.`,
      ...(issuers ? [`card issuers named: ${issuers.keys.map((k) => k.keyId).join(', ')}.`] : []),
      data.reissued.length
        ? `rosters re-issued under it: ${data.reissued.map((r) => `${r.school} v${r.version}`).join(', ')}.`
        : 'no school has a roster yet.',
      'Devices take the new key set from the bridge as they connect; none needs to be provisioned again.',
    ].join('\n'),
  );
}

async function releaseKeys(options: BridgeOptions & { rootKey: string; role: string }): Promise<void> {
  const file = resolve(options.rootKey);
  const root = await readRootKey(file);
  let role: KeyRole;
  try {
    const parsed = KeyRole.safeParse(JSON.parse(await readFile(resolve(options.role), 'utf8')));
    if (!parsed.success) throw new Error(describeIssues(parsed.error));
    role = parsed.data;
  } catch (error) {
    throw usageError(
      `${options.role} is not a key role: ${(error as Error).message}`,
      'give the .pub.json that `npm run release -- keygen` wrote beside the release key',
    );
  }
  const bridge = await connect(options);
  const { data: before } = await bridge.request<KeysView>('GET', '/v1/keys');
  const current = before.keySets.at(-1) as KeysView['keySets'][number];
  const signers = root.filter((k) => current.rootKeyIds.includes(keyIdOf(k.publicKey)));
  if (signers.length < current.rootThreshold)
    throw new CliError(
      `${file} does not hold ${current.rootThreshold} of the root keys of key set ${current.version}: nothing was changed`,
      1,
      `use the root key file made for this bridge (anchor fingerprint ${before.fingerprint})`,
    );
  const { data: prepared } = await bridge.request<{ pendingId: string; keySet: RosterKeySet }>(
    'POST',
    '/v1/keys/releases/prepare',
    { json: { releases: role } },
  );
  // Signed only when it changes nothing but the release keys: the next version, the same root and roster keys.
  const next = RosterKeySet.safeParse(prepared.keySet);
  if (
    !next.success ||
    next.data.version !== current.version + 1 ||
    JSON.stringify(next.data.root.keys.map((k) => k.keyId)) !== JSON.stringify(current.rootKeyIds) ||
    JSON.stringify(next.data.roster.keys.map((k) => k.keyId)) !== JSON.stringify(current.rosterKeyIds) ||
    JSON.stringify(next.data.releases) !== JSON.stringify(role)
  )
    throw new CliError(
      `the bridge prepared a key set that is not key set ${current.version + 1} with only the release keys changed: not signed`,
      1,
      'another rotation may be under way: run `educard-bridge keys show`, then again',
    );
  const { status, data } = await bridge.request<{ version: number; message?: string }>(
    'POST',
    '/v1/keys/keysets',
    {
      json: { pendingId: prepared.pendingId, keySet: signDocument(next.data, signers) },
      allow: [409, 422],
      timeoutMs: 600_000,
    },
  );
  if (status !== 200)
    throw new CliError(`the bridge refused the key set: ${data.message}; nothing was changed`, 1);
  print(
    options.json,
    data,
    () =>
      `key set ${data.version} in force: release key(s) ${role.keys.map((k) => k.keyId).join(', ')} (threshold ${role.threshold}) sign gateway software from now on. Devices take it as they connect.`,
  );
}

export function registerKeys(program: Command): void {
  const keys = example(
    program
      .command('keys')
      .description("the bridge's roster keys: show them, rotate the roster key (and name the card issuers)"),
    'educard-bridge keys show',
    'educard-bridge keys rotate --root-key /media/usb/educard-root-key.json',
    'educard-bridge keys rotate --root-key /media/usb/educard-root-key.json --card-issuers card-issuers.json',
  );
  example(
    bridgeOptions(
      keys
        .command('show')
        .description('anchor fingerprint, key set versions, roster key ids')
        .option('--json', 'print as JSON'),
    ).action((options: BridgeOptions) => show(options)),
    'educard-bridge keys show --config /etc/educard/bridge.json',
  );
  example(
    bridgeOptions(
      keys
        .command('rotate')
        .description(
          'move to a new roster key: the bridge makes it, you sign the next key set with the root key, the old key is retired',
        )
        .requiredOption(
          '--root-key <file>',
          'the root key file init wrote (--root-key-out); read here, never sent',
        )
        .option(
          '--card-issuers <file>',
          'name these card issuers in the next key set (their cards are admitted at venues); without it, those in force stay',
        )
        .option('--json', 'print the result as JSON'),
    ).action((options: BridgeOptions & { rootKey: string; cardIssuers?: string }) => rotate(options)),
    'educard-bridge keys rotate --root-key /media/usb/educard-root-key.json --config /etc/educard/bridge.json',
  );
  example(
    bridgeOptions(
      keys
        .command('releases')
        .description(
          'name the keys that sign gateway releases (kept offline): the next key set, signed with the root key',
        )
        .requiredOption(
          '--root-key <file>',
          'the root key file init wrote (--root-key-out); read here, never sent',
        )
        .requiredOption(
          '--role <file>',
          'the public part of the release key(s): the .pub.json npm run release -- keygen wrote',
        )
        .option('--json', 'print the result as JSON'),
    ).action((options: BridgeOptions & { rootKey: string; role: string }) => releaseKeys(options)),
    'educard-bridge keys releases --root-key /media/usb/educard-root-key.json --role /media/usb/release-key.pub.json',
  );
}
