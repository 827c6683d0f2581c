import type { Bridge } from '@educard/cloud-bridge';
import { ADMIN_TOKEN, startBridge } from './bridge.js';

/** A clock a test moves by hand: sessions, throttling and alarms read it. */
export class TestClock {
  constructor(private ms = Date.parse('2026-09-01T08:00:00.000Z')) {}
  readonly now = () => new Date(this.ms);
  advanceMinutes(minutes: number): void {
    this.ms += minutes * 60_000;
  }
}

/** A real bridge whose sessions and alarms follow `clock`. */
export function startClockedBridge(
  dataDir: string,
  clock: TestClock,
  overrides: Record<string, unknown> = {},
): Promise<Bridge> {
  return startBridge(dataDir, { http: { port: 0, pages: false }, ...overrides }, { now: clock.now });
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

/** The admin token's requests (the CLI's way in): any method, JSON body. */
export async function asAdmin(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  return answer(
    await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
}

export const PASSWORD = 'correct horse battery';

/** Makes an account with the admin token; returns its id. */
export async function makeAccount(
  base: string,
  account: { username: string; role: string; school?: string; className?: string; password?: string },
): Promise<string> {
  const made = await asAdmin(base, 'POST', '/v1/accounts', {
    displayName: account.username,
    password: PASSWORD,
    ...account,
  });
  if (made.status !== 201) throw new Error(`account not made: ${JSON.stringify(made.body)}`);
  return (made.body.account as { id: string }).id;
}

/** A browser of the pages: signs in, keeps the session cookie, sends JSON. */
export class Browser {
  cookie?: string;
  setCookie?: string;

  constructor(private readonly base: string) {}

  async login(username: string, password = PASSWORD): Promise<Answer> {
    const response = await fetch(`${this.base}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    this.keep(response);
    return answer(response);
  }

  async request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Answer> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(body === undefined ? {} : { 'content-type': contentType }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    this.keep(response);
    return answer(response);
  }

  private keep(response: Response): void {
    const set = response.headers.get('set-cookie');
    if (!set) return;
    this.setCookie = set;
    const pair = set.split(';')[0] as string;
    this.cookie = pair.endsWith('=') ? undefined : pair;
  }
}
