// A doctor check and how each verdict is made: shared by the doctor's groups of checks.

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';
export interface Check {
  id: string;
  status: CheckStatus;
  detail: string;
  /** What to do next, for anything but a pass. */
  remedy?: string;
}

export const pass = (id: string, detail: string): Check => ({ id, status: 'pass', detail });
export const fail = (id: string, detail: string, remedy: string): Check => ({
  id,
  status: 'fail',
  detail,
  remedy,
});
export const warn = (id: string, detail: string, remedy: string): Check => ({
  id,
  status: 'warn',
  detail,
  remedy,
});
export const skip = (id: string, detail: string): Check => ({ id, status: 'skip', detail });

/** The JSON in a file the doctor reads, or undefined when it is none. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
