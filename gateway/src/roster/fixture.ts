// Test support (not built into dist): a device's roster trust as provisioning leaves it, and the check
// that a signed document was refused for the reason expected.
import { mkdir } from 'node:fs/promises';
import type { TestAuthority } from '@educard/terminal-sdk/testing';
import { expect } from 'vitest';
import type { Logger } from '../log/index.js';
import { type RejectionCode, RosterRejected } from './errors.js';
import { RosterStore } from './store.js';

/** The roster store of a provisioned device: the authority's anchor pinned and its key set accepted. */
export async function provisionedRoster(
  dir: string,
  authority: TestAuthority,
  scope: { school: string; device: string; logger: Logger; now?: () => number },
): Promise<RosterStore> {
  await mkdir(dir, { recursive: true });
  await RosterStore.writeAnchor(dir, authority.anchor());
  const store = await RosterStore.open({ dir, now: () => Date.now(), ...scope });
  await store.acceptKeySet(authority.keySet());
  return store;
}

/** That `promise` was refused as a RosterRejected with `code`. */
export async function expectRejected(promise: Promise<unknown>, code: RejectionCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RosterRejected);
  expect((error as RosterRejected).code).toBe(code);
}
