import { join } from 'node:path';
import {
  CARD_STATUSES,
  type CardEntry,
  fromBase64Url,
  keyIdOf,
  ROLES,
  type Schedule,
} from '@educard/terminal-sdk';
import { CliError, example, print, table } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import type { GatewayConfig } from '../config/index.js';
import { auditRoster, loadRoster, RosterIndex, type RosterView } from '../roster/index.js';
import { configPath, readConfig, wantsJson } from './context.js';

const WEEKDAYS = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const rosterDir = (config: GatewayConfig) => join(config.dataDir, 'roster');
const scope = (config: GatewayConfig) => ({
  dir: rosterDir(config),
  school: config.device.school,
  device: config.device.id,
});

/** The roster the gateway would load at start, read from its files (nothing is written). */
async function openView(
  config: GatewayConfig,
): Promise<{ view: RosterView; keySetVersion: number; warnings: string[] }> {
  const { store, warnings } = await loadRoster(scope(config));
  const view = store?.view;
  if (!store || !view) {
    const why = warnings.length ? ` (${warnings.join('; ')})` : '';
    throw new CliError(
      store?.provisioned === false
        ? `the device is not provisioned: there is no roster trust anchor in ${rosterDir(config)}`
        : `no roster loads from ${rosterDir(config)}${why}`,
      1,
      store?.provisioned === false
        ? 'Provision it with: sudo educard init'
        : 'The gateway takes its roster from the bridge over the uplink (educard status shows it); educard roster verify says what is wrong with the stored files.',
    );
  }
  return { view, keySetVersion: store.keySetVersion, warnings };
}

function validity(card: CardEntry, now: number): 'valid' | 'not-yet-valid' | 'expired' {
  if (now < Date.parse(card.validFrom)) return 'not-yet-valid';
  if (now >= Date.parse(card.validUntil)) return 'expired';
  return 'valid';
}

function formatSchedule(id: string, schedule: Schedule | undefined): string {
  if (!schedule) return `${id} (NOT IN THE ROSTER: no window opens)`;
  const windows = schedule.windows.map(
    (w) => `${w.days.map((d) => WEEKDAYS[d]).join(',')} ${w.start}-${w.end}`,
  );
  return `${id}: ${windows.join('; ') || 'no windows'}${schedule.onHolidays ? '; holidays too' : ''}`;
}

const credentialText = (card: CardEntry) =>
  card.credential.kind === 'edu-cpu'
    ? `edu-cpu (signing card, key ${keyIdOf(fromBase64Url(card.credential.publicKey))}${card.credential.uid ? `, UID ${card.credential.uid}` : ''})`
    : `uid (UID ${card.credential.uid}; UID-only, weaker)`;

function show(config: GatewayConfig, view: RosterView, keySetVersion: number, warnings: string[]) {
  const now = Date.now();
  const cards = view instanceof RosterIndex ? [...view.entries()] : [];
  const byStatusAndRole = Object.fromEntries(
    CARD_STATUSES.map((status) => [status, Object.fromEntries(ROLES.map((role) => [role, 0]))]),
  ) as Record<string, Record<string, number>>;
  for (const card of cards) {
    const row = byStatusAndRole[card.status] as Record<string, number>;
    row[card.role] = (row[card.role] ?? 0) + 1;
  }
  const count = (pick: (card: CardEntry) => string, keys: readonly string[]) =>
    Object.fromEntries(keys.map((key) => [key, cards.filter((card) => pick(card) === key).length]));
  return {
    school: view.school,
    device: config.device.id,
    version: view.version,
    keySetVersion,
    issuedAt: new Date(view.issuedAt).toISOString(),
    expiresAt: new Date(view.expiresAt).toISOString(),
    expired: view.expiresAt <= now,
    timeZone: view.calendar.timeZone,
    cards: {
      total: view.size,
      byStatus: count((card) => card.status, CARD_STATUSES),
      byRole: count((card) => card.role, ROLES),
      byStatusAndRole,
    },
    warnings,
  };
}

function showText(data: ReturnType<typeof show>): string {
  const days = Math.round((Date.parse(data.expiresAt) - Date.now()) / 86_400_000);
  const lines = [
    `school     ${data.school} (this device: ${data.device}); time zone ${data.timeZone}`,
    `version    ${data.version}, signed under key set ${data.keySetVersion}`,
    `issued     ${data.issuedAt}`,
    `expires    ${data.expiresAt}${
      data.expired
        ? `  EXPIRED ${-days} day(s) ago: policy.rosterExpired decides (check the uplink: educard status)`
        : ` (in ${days} day(s))`
    }`,
    `cards      ${data.cards.total}`,
    '',
    table(
      ['status', ...ROLES, 'total'],
      CARD_STATUSES.map((status) => [
        status,
        ...ROLES.map((role) => data.cards.byStatusAndRole[status]?.[role] ?? 0),
        data.cards.byStatus[status] ?? 0,
      ]),
    ),
  ];
  for (const warning of data.warnings) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

function lookup(view: RosterView, query: string) {
  const uid = query.replace(/[\s:-]/g, '').toUpperCase();
  const byId = view.byCardId(query);
  const card = byId ?? view.byUid(uid);
  if (!card) return undefined;
  const now = Date.now();
  return {
    query,
    matchedBy: byId ? ('card-id' as const) : ('uid' as const),
    rosterVersion: view.version,
    validity: validity(card, now),
    card,
    schedules: card.schedules.map((id) => ({ id, schedule: view.schedule(id) ?? null })),
  };
}

function lookupText(found: NonNullable<ReturnType<typeof lookup>>): string {
  const { card } = found;
  const person = [
    card.personId,
    card.displayName ? `"${card.displayName}"` : '',
    `(${[card.role, card.grade && `grade ${card.grade}`, card.class && `class ${card.class}`].filter(Boolean).join(', ')})`,
  ]
    .filter(Boolean)
    .join(' ');
  const state = { valid: 'valid now', 'not-yet-valid': 'NOT YET VALID', expired: 'EXPIRED' }[found.validity];
  return [
    `card       ${card.cardId}${found.matchedBy === 'uid' ? ` (found by UID ${found.query})` : ''}`,
    `status     ${card.status}${card.status === 'active' ? '' : ': every tap is denied'}`,
    `person     ${person}`,
    `valid      ${card.validFrom} to ${card.validUntil}: ${state}`,
    `zones      ${card.zones.join(', ') || 'none: denied at every station'}`,
    found.schedules.length === 0 ? 'schedules  none: no time limit' : 'schedules',
    ...found.schedules.map(({ id, schedule }) => `  ${formatSchedule(id, schedule ?? undefined)}`),
    `credential ${credentialText(card)}`,
    `roster     version ${found.rosterVersion}`,
  ].join('\n');
}

function auditText(audit: Awaited<ReturnType<typeof auditRoster>>): string {
  const lines = [
    `roster directory ${audit.dir}`,
    table(
      ['file', 'result', ''],
      audit.files.map((file) => [
        file.file,
        file.ok ? 'ok' : 'FAIL',
        file.ok ? (file.detail ?? '') : (file.problem ?? ''),
      ]),
    ),
    '',
    audit.loads
      ? `would load: version ${audit.loads.version}, ${audit.loads.cards} cards, key set ${audit.loads.keySetVersion}, expires ${audit.loads.expiresAt}${audit.loads.expired ? ' (EXPIRED)' : ''}`
      : 'would load: NOTHING (every card would be denied)',
    ...audit.warnings.map((warning) => `warning: ${warning}`),
    ...audit.problems.map((problem) => `problem: ${problem}`),
    audit.ok ? 'roster verified' : `roster check FAILED: ${audit.problems.length} problem(s)`,
  ];
  return lines.join('\n');
}

export function registerRoster(program: Command): void {
  const roster = example(
    program
      .command('roster')
      .description('the signed roster this device holds, read from its files (safe while the gateway runs)'),
    'educard roster show',
    'educard roster lookup E000000123',
  );

  example(
    roster
      .command('show')
      .description('school, version, validity, key set, and the cards by status and role')
      .option('--json', 'print JSON'),
    'educard roster show',
    'educard roster show --json | jq .cards.byStatus',
  ).action(async (_options, command: Command) => {
    const config = await readConfig(configPath(command));
    const { view, keySetVersion, warnings } = await openView(config);
    const data = show(config, view, keySetVersion, warnings);
    print(wantsJson(command), data, () => showText(data));
  });

  example(
    roster
      .command('verify')
      .description(
        're-verify every stored file from the pinned anchor (key set chain, manifests, bodies) and what would load; exit 1 on any problem',
      )
      .option('--json', 'print JSON'),
    'educard roster verify',
  ).action(async (_options, command: Command) => {
    const config = await readConfig(configPath(command));
    const audit = await auditRoster(scope(config));
    print(wantsJson(command), audit, () => auditText(audit));
    if (!audit.ok) {
      process.stderr.write(
        audit.provisioned
          ? 'The gateway skips stored files that fail and keeps the newest roster that verifies; a fresh one comes from the bridge over the uplink (educard status). Files changed at rest point to disk trouble or tampering: keep a copy of the roster directory before anything else.\n'
          : 'Provision the device with: sudo educard init\n',
      );
      process.exitCode = 1;
    }
  });

  example(
    roster
      .command('lookup')
      .description(
        'one card, by its card id or UID: status, person, role, validity, zones, schedules, credential',
      )
      .argument('<card>', 'a card id (E000000123) or a UID as the reader reports it (04A1B2C3D4E5F6)')
      .option('--json', 'print JSON'),
    'educard roster lookup E000000123',
    'educard roster lookup 04:A1:B2:C3:D4:E5:F6',
  ).action(async (card: string, _options, command: Command) => {
    const config = await readConfig(configPath(command));
    const { view } = await openView(config);
    const found = lookup(view, card);
    if (!found) {
      throw new CliError(
        `card ${card} is not in roster version ${view.version} (${view.size} cards, by card id or UID)`,
        1,
        'Check the number (a UID is hex, as the reader reports it: educard readers --watch shows it). A card issued after this version arrives with the next roster update: educard status shows the uplink.',
      );
    }
    print(wantsJson(command), found, () => lookupText(found));
  });
}
