/**
 * The HTTP side of the contract (docs/central-api.yaml): bearer token, JSON, a timeout on every call.
 * A failure of the whole call (network, timeout, a status that is not 2xx) is a CentralUnavailable,
 * with the Retry-After the central system asked for, when it asked.
 */
import { retryAfterMs } from '@educard/terminal-sdk';

export class CentralUnavailable extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'CentralUnavailable';
  }
}

export interface CentralClientOptions {
  url: string;
  token: string;
  timeoutMs: number;
}

export class CentralClient {
  constructor(private readonly options: CentralClientOptions) {}

  get(path: string): Promise<unknown> {
    return this.call('GET', path);
  }

  /** `signal` cuts the call short (the bridge stopping); it then fails as unavailable. */
  post(
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<unknown> {
    return this.call('POST', path, body, headers, signal);
  }

  private async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.url), {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
    } catch (error) {
      const cause = error as Error & { cause?: { code?: string } };
      const reason =
        cause.name === 'TimeoutError'
          ? `no answer within ${this.options.timeoutMs} ms`
          : (cause.cause?.code ?? cause.message);
      throw new CentralUnavailable(`${method} ${path}: ${reason}`);
    }
    const text = await response.text().catch((error: Error) => {
      throw new CentralUnavailable(`${method} ${path}: answer cut off (${error.message})`);
    });
    if (!response.ok) {
      throw new CentralUnavailable(
        `${method} ${path}: ${response.status} ${text.slice(0, 200)}`,
        response.status,
        retryAfterMs(response.headers.get('retry-after')),
      );
    }
    try {
      return text ? JSON.parse(text) : {};
    } catch {
      throw new CentralUnavailable(`${method} ${path}: the answer is not JSON`, response.status);
    }
  }
}
