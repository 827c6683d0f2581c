import { CliError, example, print, table, usageError } from '@educard/terminal-sdk/cli';
import { type Command, Option } from 'commander';
import { ACCOUNT_ROLES } from '../access/index.js';
import type { Account } from '../accounts/index.js';
import { PASSWORD_MIN_LENGTH } from '../accounts/passwords.js';
import { type BridgeClient, type BridgeOptions, bridgeOptions, connect } from './client.js';

interface CreateOptions extends BridgeOptions {
  username: string;
  displayName: string;
  role: string;
  school?: string;
  class?: string;
}

/**
 * The new password, read from standard input (its first line) so that it shows in no `ps` listing
 * and no shell history.
 */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY)
    throw usageError(
      'the password is read from standard input',
      `pipe it in, e.g. \`read -rs PW && printf '%s\\n' "$PW" | educard-bridge accounts …\` (at least ${PASSWORD_MIN_LENGTH} characters)`,
    );
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  const password = text.split(/\r?\n/)[0] ?? '';
  if ([...password].length < PASSWORD_MIN_LENGTH)
    throw usageError(`the password on standard input has fewer than ${PASSWORD_MIN_LENGTH} characters`);
  return password;
}

/** An account by its username (any case) or its id. */
async function find(bridge: BridgeClient, who: string): Promise<Account> {
  const { data } = await bridge.request<{ accounts: Account[] }>('GET', '/v1/accounts');
  const found = data.accounts.find((a) => a.id === who || a.username.toLowerCase() === who.toLowerCase());
  if (!found) throw new CliError(`no account ${who}`, 1, 'list them with `educard-bridge accounts list`');
  return found;
}

/** Sends a change; the bridge's refusals (last district admin, a username taken) become exit code 1. */
async function patch(
  bridge: BridgeClient,
  account: Account,
  body: Record<string, unknown>,
): Promise<Account> {
  const { status, data } = await bridge.request<{ account: Account; message?: string }>(
    'PATCH',
    `/v1/accounts/${encodeURIComponent(account.id)}`,
    { json: body, allow: [409] },
  );
  if (status === 409) throw new CliError(data.message ?? 'refused', 1);
  return data.account;
}

const describe = (a: Account) =>
  `${a.username} (${a.role}${a.school ? ` of ${a.school}` : ''}${a.className ? `, class ${a.className}` : ''})`;

async function create(options: CreateOptions): Promise<void> {
  const password = await readPassword();
  const bridge = await connect(options);
  const { status, data } = await bridge.request<{ account: Account; message?: string }>(
    'POST',
    '/v1/accounts',
    {
      json: {
        username: options.username,
        displayName: options.displayName,
        password,
        role: options.role,
        ...(options.school ? { school: options.school } : {}),
        ...(options.class ? { className: options.class } : {}),
      },
      allow: [409],
    },
  );
  if (status === 409) throw new CliError(data.message ?? 'refused', 1, 'pick another username');
  print(
    options.json,
    data,
    () => `account ${describe(data.account)} created: it can sign in to the pages now.`,
  );
}

async function list(options: BridgeOptions & { school?: string }): Promise<void> {
  const bridge = await connect(options);
  const query = options.school ? `?school=${encodeURIComponent(options.school)}` : '';
  const { data } = await bridge.request<{ accounts: Account[] }>('GET', `/v1/accounts${query}`);
  print(options.json, data, () =>
    data.accounts.length
      ? table(
          ['username', 'name', 'role', 'school', 'class', 'state', 'last login'],
          data.accounts.map((a) => [
            a.username,
            a.displayName,
            a.role,
            a.school ?? '',
            a.className ?? '',
            a.disabled ? 'disabled' : 'enabled',
            a.lastLoginAt ?? 'never',
          ]),
        )
      : 'no accounts yet: make the first district admin with `educard-bridge accounts create --role district-admin`',
  );
}

async function setDisabled(who: string, disabled: boolean, options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const account = await patch(bridge, await find(bridge, who), { disabled });
  print(options.json, { account }, () =>
    disabled
      ? `account ${account.username} disabled: its sessions are ended and it can no longer sign in.`
      : `account ${account.username} enabled: it can sign in again.`,
  );
}

async function passwd(who: string, options: BridgeOptions): Promise<void> {
  const password = await readPassword();
  const bridge = await connect(options);
  const account = await patch(bridge, await find(bridge, who), { password });
  print(
    options.json,
    { account },
    () => `password of ${account.username} set: its sessions are ended, it signs in with the new one.`,
  );
}

export function registerAccounts(program: Command): void {
  const accounts = example(
    program
      .command('accounts')
      .description('accounts of the pages (district and school admins, head teachers, operators)'),
    "printf '%s\\n' \"$PW\" | educard-bridge accounts create --username chief --display-name 'Chief' --role district-admin",
    'educard-bridge accounts list --school school-1',
  );
  example(
    bridgeOptions(
      accounts
        .command('create')
        .description(
          `make an account; its password (at least ${PASSWORD_MIN_LENGTH} characters) is read from standard input`,
        )
        .requiredOption('--username <name>', 'what it signs in with (any case)')
        .requiredOption('--display-name <name>', 'the name the pages show')
        .addOption(new Option('--role <role>', 'what it may do').choices(ACCOUNT_ROLES).makeOptionMandatory())
        .option(
          '--school <id>',
          'its school (not for a district admin; an operator without one is district-wide)',
        )
        .option('--class <id>', "a head teacher's class")
        .option('--json', 'print as JSON'),
    ).action((options: CreateOptions) => create(options)),
    "printf '%s\\n' \"$PW\" | educard-bridge accounts create --username chief --display-name 'Chief' --role district-admin",
    "printf '%s\\n' \"$PW\" | educard-bridge accounts create --username wang --display-name 'Ms Wang' --role head-teacher --school school-1 --class 3A",
  );
  example(
    bridgeOptions(
      accounts
        .command('list')
        .description('every account, its role, school and state')
        .option('--school <id>', 'only this school')
        .option('--json', 'print as JSON'),
    ).action((options: BridgeOptions & { school?: string }) => list(options)),
    'educard-bridge accounts list --school school-1',
  );
  example(
    bridgeOptions(
      accounts
        .command('disable')
        .description('stop an account signing in and end its sessions (accounts are never deleted)')
        .argument('<username>', 'its username or id')
        .option('--json', 'print as JSON'),
    ).action((who: string, options: BridgeOptions) => setDisabled(who, true, options)),
    'educard-bridge accounts disable wang',
  );
  example(
    bridgeOptions(
      accounts
        .command('enable')
        .description('let a disabled account sign in again')
        .argument('<username>', 'its username or id')
        .option('--json', 'print as JSON'),
    ).action((who: string, options: BridgeOptions) => setDisabled(who, false, options)),
    'educard-bridge accounts enable wang',
  );
  example(
    bridgeOptions(
      accounts
        .command('passwd')
        .description("set an account's password (read from standard input) and end its sessions")
        .argument('<username>', 'its username or id')
        .option('--json', 'print as JSON'),
    ).action((who: string, options: BridgeOptions) => passwd(who, options)),
    'printf \'%s\\n\' "$PW" | educard-bridge accounts passwd wang',
  );
}
