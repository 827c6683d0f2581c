import { randomBytes, randomUUID } from 'node:crypto';
import { Identifier, sha256Hex } from '@educard/terminal-sdk';
import { RefusalCounter } from '@educard/terminal-sdk/listeners';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ACCOUNT_ROLES, type AuditEntry, type AuditSink, type Principal } from '../access/index.js';
import { isStoreFull, type SqlDatabase } from '../store/index.js';
import { dummyHash, hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { AccountTables, type StoredAccount } from './store.js';
import { AddressThrottle, CheckGate, type LocksSeenBy } from './throttle.js';
import type { Account } from './types.js';

export interface AccountSettings {
  /** A session unused this long ends (each request moves it on). */
  sessionIdleMinutes: number;
  /** A session ends this long after sign-in, however busy. */
  sessionAbsoluteHours: number;
  /** Failed logins for one username before it is locked. */
  loginAttempts: number;
  /** Failed logins from one address before it is locked, whatever usernames it tries. */
  addressAttempts: number;
  /** Password checks of sign-ins at once and a second, and waiting for their turn. */
  concurrentPasswordChecks: number;
  passwordChecksPerSecond: number;
  queuedPasswordChecks: number;
  lockoutMinutes: number;
}

export const DEFAULT_ACCOUNT_SETTINGS: AccountSettings = {
  sessionIdleMinutes: 30,
  sessionAbsoluteHours: 12,
  loginAttempts: 5,
  addressAttempts: 30,
  concurrentPasswordChecks: 1,
  passwordChecksPerSecond: 10,
  queuedPasswordChecks: 16,
  lockoutMinutes: 5,
};

const Username = z
  .string()
  .regex(/^[\p{L}\p{N}][\p{L}\p{N}._@-]{1,63}$/u, '2 to 64 letters, digits, ".", "_", "@" or "-"');
const DisplayName = z.string().trim().min(1).max(128);
const ClassName = z.string().min(1).max(32);
const Password = z.string().superRefine((value, context) => {
  const problem = passwordProblem(value);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});
const Role = z.enum(ACCOUNT_ROLES);

export const NewAccount = z.strictObject({
  username: Username,
  displayName: DisplayName,
  password: Password,
  role: Role,
  school: Identifier.optional(),
  className: ClassName.optional(),
});
export type NewAccount = z.infer<typeof NewAccount>;

/** `null` removes a school or class (an account promoted to district admin has neither). */
export const AccountPatch = z.strictObject({
  displayName: DisplayName.optional(),
  role: Role.optional(),
  school: Identifier.nullable().optional(),
  className: ClassName.nullable().optional(),
  disabled: z.boolean().optional(),
  password: Password.optional(),
});
export type AccountPatch = z.infer<typeof AccountPatch>;

export const PasswordChange = z.strictObject({ current: z.string().max(4096), next: Password });

/** A refusal the API answers with `status` and `{error: code, message}`. */
export class AccountRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AccountRefused';
  }
}

/** Who asks for a change, for the audit log. */
export interface Caller {
  principal: Principal;
  ip?: string;
}

export interface SignedIn {
  account: Account;
  /** The session token: goes into the cookie, never into a log. */
  token: string;
  expiresAt: string;
}

export type LoginResult =
  | ({ ok: true } & SignedIn)
  | { ok: false; error: 'bad-credentials' }
  | { ok: false; error: 'throttled'; retryAfterSeconds: number }
  | { ok: false; error: 'busy'; retryAfterSeconds: number };

/** Where an account may act: a district admin nowhere in particular, a head teacher in one class. */
function shapeProblem(account: Pick<Account, 'role' | 'school' | 'className'>): string | undefined {
  const { role, school, className } = account;
  if (className !== undefined && role !== 'head-teacher') return 'only a head teacher has a class';
  switch (role) {
    case 'district-admin':
      return school === undefined ? undefined : 'a district admin belongs to no school (send "school": null)';
    case 'school-admin':
      return school === undefined ? 'a school admin needs a school' : undefined;
    case 'librarian':
      return school === undefined ? 'a librarian needs a school' : undefined;
    case 'head-teacher':
      return school === undefined || className === undefined
        ? 'a head teacher needs a school and a class'
        : undefined;
    case 'operator':
      return undefined;
  }
}

export const publicAccount = ({ passwordHash: _p, ...account }: StoredAccount): Account => account;

export const principalOf = (account: Account): Principal => ({
  kind: 'account',
  id: account.id,
  username: account.username,
  role: account.role,
  ...(account.school !== undefined ? { school: account.school } : {}),
  ...(account.className !== undefined ? { className: account.className } : {}),
});

export interface AccountsDeps {
  db: SqlDatabase;
  audit: AuditSink;
  logger: Logger;
  settings?: Partial<AccountSettings>;
  now?: () => Date;
}

/**
 * Accounts of the bridge's pages: who they are, their sessions, their passwords (argon2id) and the
 * rules of changing them. The routes check the role table (access/); this class keeps the rules no
 * role may break: the last district admin stays, nobody changes their own role.
 */
export class Accounts {
  readonly settings: AccountSettings;
  private readonly tables: AccountTables;
  private readonly now: () => Date;
  private readonly logger: Logger;
  private readonly addresses: AddressThrottle;
  private readonly checks: CheckGate;
  /** Sign-ins refused without a word each (busy, or from a locked address): counted, logged in sum. */
  private readonly refusals: RefusalCounter;
  private dummy?: Promise<string>;

  constructor(private readonly deps: AccountsDeps) {
    this.tables = new AccountTables(deps.db);
    this.settings = { ...DEFAULT_ACCOUNT_SETTINGS, ...deps.settings };
    this.now = deps.now ?? (() => new Date());
    this.logger = deps.logger.child({ component: 'accounts' });
    this.addresses = new AddressThrottle(this.tables, {
      attempts: this.settings.addressAttempts,
      windowMs: this.settings.lockoutMinutes * 60_000,
    });
    this.checks = new CheckGate({
      concurrent: this.settings.concurrentPasswordChecks,
      perSecond: this.settings.passwordChecksPerSecond,
      queued: this.settings.queuedPasswordChecks,
    });
    this.refusals = new RefusalCounter(this.logger, 'sign-in', 'sign-ins refused without a password check');
  }

  get(id: string): Account | undefined {
    const found = this.tables.byId(id);
    return found ? publicAccount(found) : undefined;
  }

  list(school?: string): Account[] {
    return this.tables.list(school).map(publicAccount);
  }

  async create(input: NewAccount, by: Caller): Promise<Account> {
    const problem = shapeProblem(input);
    if (problem) throw new AccountRefused(400, 'bad-request', problem);
    if (this.tables.byUsername(input.username))
      throw new AccountRefused(409, 'username-taken', `the username ${input.username} is taken`);
    const createdAt = this.now().toISOString();
    const account: StoredAccount = {
      id: randomUUID(),
      username: input.username,
      displayName: input.displayName,
      role: input.role,
      ...(input.school !== undefined ? { school: input.school } : {}),
      ...(input.className !== undefined ? { className: input.className } : {}),
      disabled: false,
      createdAt,
      passwordChangedAt: createdAt,
      passwordHash: await hashPassword(input.password),
    };
    try {
      this.tables.insert(account);
    } catch (error) {
      // Two creations of one name racing past the check above: the unique index decides.
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new AccountRefused(409, 'username-taken', `the username ${input.username} is taken`);
      throw error;
    }
    this.logger.info(
      { account: account.id, username: account.username, role: account.role, by: by.principal.username },
      'account created',
    );
    this.audit(by, 'accounts.create', account, 'ok', { role: account.role });
    return publicAccount(account);
  }

  /**
   * Applies a change the caller's role allows (the route has checked both the account's school and
   * the one it moves to). Disabling or a new password ends the account's sessions.
   */
  async update(id: string, patch: AccountPatch, by: Caller): Promise<Account> {
    const held = this.tables.byId(id);
    if (!held) throw new AccountRefused(404, 'not-found', `no account ${id}`);
    const next: StoredAccount = { ...held };
    if (patch.displayName !== undefined) next.displayName = patch.displayName;
    if (patch.role !== undefined) next.role = patch.role;
    if (patch.school !== undefined) {
      if (patch.school === null) delete next.school;
      else next.school = patch.school;
    }
    if (patch.className !== undefined) {
      if (patch.className === null) delete next.className;
      else next.className = patch.className;
    }
    if (patch.disabled !== undefined) next.disabled = patch.disabled;
    const problem = shapeProblem(next);
    if (problem) throw new AccountRefused(400, 'bad-request', problem);
    const roleChanged = next.role !== held.role;
    if (roleChanged && by.principal.kind === 'account' && by.principal.id === id) {
      this.audit(by, 'accounts.update', held, 'denied', { reason: 'own-role', role: next.role });
      throw new AccountRefused(403, 'own-role', 'an account cannot change its own role');
    }
    const losesDistrictAdmin =
      held.role === 'district-admin' && !held.disabled && (roleChanged || next.disabled);
    if (patch.password !== undefined) {
      next.passwordHash = await hashPassword(patch.password);
      next.passwordChangedAt = this.now().toISOString();
    }
    const ended = this.deps.db
      .transaction(() => {
        // Counted in the transaction that writes, so two admins demoting each other cannot both win.
        if (losesDistrictAdmin && this.tables.enabledDistrictAdmins() <= 1) return undefined;
        this.tables.update(next);
        return next.disabled || patch.password !== undefined ? this.tables.deleteSessionsOf(id) : 0;
      })
      .immediate();
    if (ended === undefined) {
      this.audit(by, 'accounts.update', held, 'denied', { reason: 'last-district-admin' });
      throw new AccountRefused(
        409,
        'last-district-admin',
        'this is the last enabled district admin: create or enable another one first',
      );
    }
    const changed = Object.keys(patch).filter((key) => key !== 'password');
    const detail: Record<string, unknown> = {
      changed: patch.password !== undefined ? [...changed, 'password'] : changed,
      ...(roleChanged ? { role: next.role, from: held.role } : {}),
      ...(ended > 0 ? { sessionsEnded: ended } : {}),
    };
    this.logger.info(
      { account: id, username: held.username, ...detail, by: by.principal.username },
      'account changed',
    );
    this.audit(by, 'accounts.update', next, 'ok', detail);
    return publicAccount(next);
  }

  /**
   * A sign-in, refused without a password check while its source address or its username is locked
   * out, and answered "busy" when too many checks wait already. Attempts are counted before the hash
   * is checked, so a burst of parallel guesses cannot slip past a limit.
   */
  async login(username: string, password: string, ip?: string): Promise<LoginResult> {
    const refused = this.lockedOut(username, ip, this.now().getTime(), 'this-instance');
    if (refused) return refused;
    const release = await this.checks.acquire();
    if (!release) {
      this.refusals.count('busy', ip);
      return { ok: false, error: 'busy', retryAfterSeconds: 1 };
    }
    try {
      return await this.check(username, password, ip);
    } finally {
      release();
    }
  }

  /** A throttled answer while the address or the username is locked out (each one logged and audited). */
  private lockedOut(
    username: string,
    ip: string | undefined,
    nowMs: number,
    seenBy: LocksSeenBy,
  ): LoginResult | undefined {
    const anonymous = { actor: username.slice(0, 64), action: 'session.login', ...(ip ? { ip } : {}) };
    // Before the queue, only the address locks this instance knows (a flood is refused without a
    // query); in turn, those another instance made too.
    const addressMs = ip === undefined ? 0 : this.addresses.lockedFor(ip, nowMs, seenBy);
    // Not audited one by one: a flood from one address would write the audit log as fast as it sends.
    if (addressMs > 0) {
      this.refusals.count('address-locked', ip);
      return { ok: false, error: 'throttled', retryAfterSeconds: Math.ceil(addressMs / 1000) };
    }
    const held = this.tables.throttle(username.normalize('NFKC').toLowerCase());
    if (held?.lockedUntil !== undefined && held.lockedUntil > nowMs) {
      this.logger.warn({ username: anonymous.actor, ip }, 'login refused: too many failed attempts');
      this.deps.audit.record({ ...anonymous, outcome: 'denied', detail: { reason: 'throttled' } });
      return {
        ok: false,
        error: 'throttled',
        retryAfterSeconds: Math.ceil((held.lockedUntil - nowMs) / 1000),
      };
    }
    return undefined;
  }

  /** One sign-in's turn at the password check. */
  private async check(username: string, password: string, ip?: string): Promise<LoginResult> {
    const nowMs = this.now().getTime();
    const key = username.normalize('NFKC').toLowerCase();
    this.tables.forgetThrottles(nowMs - 86_400_000, nowMs);
    this.sweep();
    // Checked again in turn: the attempts that waited before this one may have locked it out.
    const refused = this.lockedOut(username, ip, nowMs, 'every-instance');
    if (refused) return refused;
    const anonymous = { actor: username.slice(0, 64), action: 'session.login', ...(ip ? { ip } : {}) };
    if (ip !== undefined && this.addresses.attempt(ip, nowMs)) {
      this.logger.warn(
        { ip, minutes: this.settings.lockoutMinutes },
        'address locked after repeated failed logins',
      );
      this.deps.audit.record({
        ...anonymous,
        outcome: 'denied',
        detail: { reason: 'address-throttled', attempts: this.settings.addressAttempts },
      });
    }
    const lockUntil = nowMs + this.settings.lockoutMinutes * 60_000;
    const { failures, locked } = this.tables.nameFailure(key, nowMs, {
      attempts: this.settings.loginAttempts,
      until: lockUntil,
    });
    const lockedUntil = locked ? lockUntil : undefined;

    const account = this.tables.byUsername(username);
    this.dummy ??= dummyHash();
    const valid = await verifyPassword(account?.passwordHash ?? (await this.dummy), password);
    if (account && valid && !account.disabled) {
      this.tables.clearThrottle(key);
      if (ip !== undefined) this.addresses.succeeded(ip);
      const signedIn = this.openSession(account);
      this.logger.info({ account: account.id, username: account.username, ip }, 'signed in');
      this.audit({ principal: principalOf(account), ...(ip ? { ip } : {}) }, 'session.login', account, 'ok');
      return { ok: true, ...signedIn };
    }
    const reason = !account ? 'unknown-user' : account.disabled ? 'disabled' : 'wrong-password';
    this.logger.warn({ username: anonymous.actor, reason, failures, ip }, 'login failed');
    this.deps.audit.record({
      ...anonymous,
      ...(account ? { role: account.role, target: `account:${account.username}` } : {}),
      ...(account?.school ? { school: account.school } : {}),
      outcome: 'failed',
      detail: {
        reason,
        failures,
        ...(lockedUntil ? { lockedUntil: new Date(lockedUntil).toISOString() } : {}),
      },
    });
    if (lockedUntil)
      this.logger.warn(
        { username: anonymous.actor, minutes: this.settings.lockoutMinutes },
        'username locked after repeated failed logins',
      );
    return { ok: false, error: 'bad-credentials' };
  }

  /**
   * The account a session token stands for, if the session is alive; moves its idle expiry on.
   * An expired session is deleted on the spot.
   */
  resolve(token: string): { account: Account; expiresAt: string } | undefined {
    const hash = sha256Hex(token);
    const session = this.tables.session(hash);
    if (!session) return undefined;
    const nowMs = this.now().getTime();
    if (this.expiryOf(session.createdAt, session.lastSeenAt) <= nowMs) {
      this.tables.deleteSession(hash);
      return undefined;
    }
    const account = this.tables.byId(session.accountId);
    if (!account || account.disabled) {
      this.tables.deleteSession(hash);
      return undefined;
    }
    let seenAt = nowMs;
    try {
      this.tables.touchSession(hash, nowMs);
    } catch (error) {
      // A full disk must not sign everyone out of reading: the session is alive, and its idle
      // expiry moves on at the next request whose touch can be stored (/health says why).
      if (!isStoreFull(error)) throw error;
      this.logger.debug({ err: error }, "a session's idle expiry was not moved on: the store is full");
      seenAt = session.lastSeenAt;
    }
    return {
      account: publicAccount(account),
      expiresAt: new Date(this.expiryOf(session.createdAt, seenAt)).toISOString(),
    };
  }

  logout(token: string, ip?: string): void {
    const found = this.resolve(token);
    this.tables.deleteSession(sha256Hex(token));
    if (!found) return;
    this.logger.info({ account: found.account.id, username: found.account.username }, 'signed out');
    this.audit(
      { principal: principalOf(found.account), ...(ip ? { ip } : {}) },
      'session.logout',
      found.account,
      'ok',
    );
  }

  /** One's own password: the current one checked, every session ended, and a fresh one for the caller. */
  async changeOwnPassword(
    principal: Principal,
    current: string,
    next: string,
    ip?: string,
  ): Promise<SignedIn> {
    const by = { principal, ...(ip ? { ip } : {}) };
    const account = principal.kind === 'account' ? this.tables.byId(principal.id) : undefined;
    if (!account)
      throw new AccountRefused(400, 'not-an-account', 'only a signed-in account has a password to change');
    if (!(await verifyPassword(account.passwordHash, current))) {
      this.logger.warn({ account: account.id }, 'password change refused: current password wrong');
      this.audit(by, 'session.password', account, 'failed', { reason: 'wrong-password' });
      throw new AccountRefused(403, 'bad-credentials', 'the current password is not right');
    }
    const changed: StoredAccount = {
      ...account,
      passwordHash: await hashPassword(next),
      passwordChangedAt: this.now().toISOString(),
    };
    const signedIn = this.deps.db.transaction(() => {
      this.tables.update(changed);
      this.tables.deleteSessionsOf(account.id);
      return this.openSession(changed);
    })();
    this.logger.info({ account: account.id }, 'password changed');
    this.audit(by, 'session.password', account, 'ok');
    return signedIn;
  }

  /** Drops sessions past their expiry (the resolver refuses them anyway; this keeps the table small). */
  sweep(): void {
    const nowMs = this.now().getTime();
    this.tables.deleteExpiredSessions(
      nowMs - this.settings.sessionIdleMinutes * 60_000,
      nowMs - this.settings.sessionAbsoluteHours * 3_600_000,
    );
  }

  private openSession(account: StoredAccount): SignedIn {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const nowMs = now.getTime();
    this.tables.insertSession(sha256Hex(token), account.id, nowMs);
    this.tables.loggedIn(account.id, now.toISOString());
    return {
      account: publicAccount({ ...account, lastLoginAt: now.toISOString() }),
      token,
      expiresAt: new Date(this.expiryOf(nowMs, nowMs)).toISOString(),
    };
  }

  private expiryOf(createdAt: number, lastSeenAt: number): number {
    return Math.min(
      lastSeenAt + this.settings.sessionIdleMinutes * 60_000,
      createdAt + this.settings.sessionAbsoluteHours * 3_600_000,
    );
  }

  private audit(
    by: Caller,
    action: string,
    account: Account,
    outcome: AuditEntry['outcome'],
    detail?: Record<string, unknown>,
  ): void {
    this.deps.audit.record({
      actor: by.principal.username,
      role: by.principal.role,
      action,
      target: `account:${account.username}`,
      ...(account.school ? { school: account.school } : {}),
      outcome,
      ...(detail ? { detail } : {}),
      ...(by.ip ? { ip: by.ip } : {}),
    });
  }
}
