import { chmod, chown, open, readFile, realpath, stat } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { GatewayConfig } from '../config/index.js';
import { writeFileDurable } from '../storage/index.js';
import { configPath, readConfig, SERVICE, wantsJson } from './context.js';

/** Settings whose values never reach a screen unless asked for: matched by the last key of a path. */
const SECRET_KEYS = new Set(['password', 'token', 'seed', 'secret', 'privateKey']);
const MASK = '***';
const RESTART = `sudo systemctl restart ${SERVICE}`;

type Json = unknown;

/** The config file as written: JSON, not yet validated, no defaults. Exit 2 when it is not JSON. */
export async function readRawConfig(path: string): Promise<Record<string, Json>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw usageError(
      `configuration ${path} cannot be read (${code})`,
      code === 'EACCES'
        ? 'Run it with sudo.'
        : `Give the right file with --config (or EDUCARD_CONFIG), or make one with: educard init --config ${path}`,
    );
  }
  let value: Json;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usageError(
      `configuration ${path} is not JSON (${(error as Error).message})`,
      `Fix it in an editor (sudoedit ${path}), then check it with: educard config validate`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw usageError(
      `configuration ${path} is not a JSON object`,
      `Make a new one with: educard init --config ${path}`,
    );
  }
  return value as Record<string, Json>;
}

function parseKey(key: string): string[] {
  const parts = key.split('.');
  if (
    parts.some(
      (part) => part === '' || part === '__proto__' || part === 'constructor' || part === 'prototype',
    )
  ) {
    throw usageError(
      `"${key}" is not a setting's path`,
      'Give a dotted path, such as journal.segmentBytes or uplink.url',
    );
  }
  return parts;
}

const isObject = (value: Json): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function getPath(value: Json, parts: string[]): Json {
  let node = value;
  for (const part of parts) {
    if (Array.isArray(node) && /^\d+$/.test(part)) node = node[Number(part)];
    else if (isObject(node) && Object.hasOwn(node, part)) node = node[part];
    else return undefined;
  }
  return node;
}

function setPath(root: Record<string, Json>, parts: string[], value: Json): void {
  let node: Json = root;
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const at = parts.slice(0, i + 1).join('.');
    if (Array.isArray(node)) {
      const index = Number(part);
      if (!/^\d+$/.test(part) || index > node.length) {
        throw usageError(`${parts.slice(0, i).join('.')} is a list of ${node.length}: ${at} is not in it`);
      }
      if (last) node[index] = value;
      else node = node[index] ??= {};
      return;
    }
    if (!isObject(node))
      throw usageError(`${parts.slice(0, i).join('.')} is not an object: ${at} cannot be set`);
    if (last) node[part] = value;
    else node = node[part] ??= {};
  });
}

/** A copy with every secret replaced by "***". */
function masked(value: Json, key?: string): Json {
  if (key !== undefined && SECRET_KEYS.has(key) && value !== undefined && value !== null) return MASK;
  if (Array.isArray(value)) return value.map((item) => masked(item));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, masked(v, k)]));
  return value;
}

/** Keys the file has that the schema does not know: the gateway drops them without a word. */
function ignoredKeys(raw: Json, parsed: Json, prefix = ''): string[] {
  if (Array.isArray(raw) && Array.isArray(parsed)) {
    return raw.flatMap((item, i) => ignoredKeys(item, parsed[i], `${prefix}${i}.`));
  }
  if (!isObject(raw) || !isObject(parsed)) return [];
  return Object.entries(raw).flatMap(([key, value]) =>
    Object.hasOwn(parsed, key) ? ignoredKeys(value, parsed[key], `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

const text = (value: Json) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

function keysAt(value: Json, parts: string[]): string {
  for (let depth = parts.length - 1; depth >= 0; depth--) {
    const node = getPath(value, parts.slice(0, depth));
    if (isObject(node)) {
      return `Settings under ${depth === 0 ? 'the top' : parts.slice(0, depth).join('.')}: ${Object.keys(node).join(', ')}`;
    }
  }
  return '';
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** A value as typed: JSON when it parses (numbers, booleans, objects, quoted strings), a string otherwise. */
function parseValue(value: string): Json {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Replaces the file atomically and durably, keeping its mode and owner (the service must still read it). */
/** Writes the config file atomically, keeping its mode and owner. */
export async function writeRawConfig(path: string, value: Json): Promise<void> {
  const target = await realpath(path);
  const before = await stat(target);
  const mode = before.mode & 0o7777;
  await writeFileDurable(target, `${JSON.stringify(value, null, 2)}\n`, mode);
  const after = await stat(target);
  if (after.uid !== before.uid || after.gid !== before.gid) {
    await chown(target, before.uid, before.gid).catch(() => undefined);
  }
  // The umask may have taken bits from the mode the file had.
  if ((after.mode & 0o7777) !== mode) await chmod(target, mode);
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function registerConfig(program: Command): void {
  const config = example(
    program.command('config').description('read, change and check the configuration file'),
    'educard config get uplink.url',
    `sudo educard config set journal.segmentBytes 8388608 && ${RESTART}`,
  );

  example(
    config
      .command('get')
      .description(
        'a setting by its dotted path, or the whole configuration, defaults filled in; secrets as ***',
      )
      .argument('[key]', 'a dotted path, such as uplink.url or readers.bindings.0.pattern')
      .option('--raw', 'the file as written: no defaults, not validated')
      .option('--show-secrets', 'show secrets (uplink.password) instead of ***')
      .option('--json', 'print JSON'),
    'educard config get station.zone',
    'educard config get --raw --json',
  ).action(
    async (key: string | undefined, options: { raw?: boolean; showSecrets?: boolean }, command: Command) => {
      const path = configPath(command);
      const parts = key === undefined ? [] : parseKey(key);
      const whole: Json = options.raw ? await readRawConfig(path) : await readConfig(path);
      const value = getPath(whole, parts);
      if (value === undefined) {
        throw new CliError(
          `${key} is not set in ${path}${options.raw ? '' : ' (nor given a default)'}`,
          1,
          keysAt(whole, parts),
        );
      }
      const shown = options.showSecrets ? value : masked(value, parts.at(-1));
      print(wantsJson(command), shown, () => text(shown));
    },
  );

  example(
    config
      .command('set')
      .description(
        'change one setting in the file: the whole file is validated first and nothing is written when it would be invalid',
      )
      .argument('<key>', 'a dotted path, such as journal.segmentBytes')
      .argument(
        '<value>',
        'JSON when it parses as JSON (8388608, true, {"a":1}), a string otherwise; - reads it from standard input',
      )
      .option('--json', 'print JSON'),
    'sudo educard config set station.zone library',
    'sudo educard config set policy.passback.mode hard',
    'printf %s "$PASSWORD" | sudo educard config set uplink.password -',
  ).action(async (key: string, input: string, _options, command: Command) => {
    const path = configPath(command);
    const parts = parseKey(key);
    const value = parseValue(input === '-' ? await readStdin() : input);
    const raw = await readRawConfig(path);
    const before = getPath(raw, parts);
    const next = structuredClone(raw);
    setPath(next, parts, value);
    const result = GatewayConfig.safeParse(next);
    const secret = SECRET_KEYS.has(parts.at(-1) as string);
    const current = GatewayConfig.safeParse(raw);
    const fallback = current.success ? getPath(current.data, parts) : undefined;
    const show = (v: Json) =>
      v === undefined
        ? fallback === undefined || secret
          ? '(not set)'
          : `(not set: default ${JSON.stringify(fallback)})`
        : secret
          ? MASK
          : JSON.stringify(v);
    if (!result.success) {
      throw usageError(
        `${key} = ${show(value)} would make the configuration invalid; nothing was written:\n${result.error.issues
          .map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`)
          .join('\n')}`,
        `See the settings in docs/gateway.md (Configuration); check the file with: educard config validate --config ${path}`,
      );
    }
    if (getPath(result.data, parts) === undefined) {
      throw usageError(
        `${key} is not a setting the gateway knows (it would be ignored); nothing was written`,
        keysAt(result.data, parts),
      );
    }
    const changed = !isDeepStrictEqual(before, value);
    if (changed) await writeRawConfig(path, next);
    const data = {
      path,
      key,
      before: secret ? MASK : before,
      value: secret ? MASK : value,
      changed,
      restart: RESTART,
    };
    print(wantsJson(command), data, () =>
      changed
        ? `${key}: ${show(before)} -> ${show(value)} in ${path}\nRestart the service for it to take effect: ${RESTART}`
        : `${key} is already ${show(value)}; nothing written`,
    );
  });

  example(
    config
      .command('validate')
      .description(
        'check the file against the gateway schema and report every problem at once; exit 2 when invalid',
      )
      .option('--json', 'print JSON'),
    'educard config validate',
    'educard --config /tmp/gateway.json config validate',
  ).action(async (_options, command: Command) => {
    const path = configPath(command);
    const raw = await readRawConfig(path);
    const result = GatewayConfig.safeParse(raw);
    const problems = result.success
      ? []
      : result.error.issues.map((issue) => ({
          path: issue.path.join('.') || '(root)',
          message: issue.message,
        }));
    const ignored = result.success ? ignoredKeys(raw, result.data) : [];
    const data = { path, valid: result.success, problems, ignored };
    if (!result.success && !wantsJson(command)) {
      throw usageError(
        `configuration ${path} is not valid: ${problems.length} problem(s)\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`,
        `Fix them (sudoedit ${path}, or educard config set KEY VALUE), then validate again; the settings are in docs/gateway.md (Configuration).`,
      );
    }
    print(wantsJson(command), data, () =>
      [
        `configuration ${path} is valid`,
        ...ignored.map(
          (key) => `warning: ${key} is not a setting the gateway knows; it is ignored (a typo?)`,
        ),
      ].join('\n'),
    );
    if (!result.success) process.exitCode = 2;
  });
}
