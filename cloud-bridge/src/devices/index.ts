import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type EnrollmentRequest, sha256Hex } from '@educard/terminal-sdk';
import type { BrokerPrincipal } from '../broker/index.js';
import type { BridgeStore } from '../store/index.js';

export class EnrollmentRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrollmentRefused';
  }
}

/**
 * Registers a device's public key against a one-time token and gives it broker credentials. Only a
 * hash of the password is kept; the device is told it once.
 */
export function enroll(
  store: BridgeStore,
  request: EnrollmentRequest,
  now = new Date(),
): { school: string; username: string; password: string } {
  const grant = store.consumeToken(request.token, now.toISOString());
  if (!grant)
    throw new EnrollmentRefused(
      'the enrollment token is unknown, already used or expired: ask for a new one',
    );
  const existing = store.getDevice(request.deviceId);
  if (existing && !existing.revokedAt && existing.school !== grant.school) {
    throw new EnrollmentRefused(`device ${request.deviceId} is enrolled in another school`);
  }
  const password = randomBytes(24).toString('base64url');
  store.putDevice({
    id: request.deviceId,
    school: grant.school,
    publicKey: request.publicKey,
    secretHash: sha256Hex(password),
    createdAt: now.toISOString(),
  });
  return { school: grant.school, username: request.deviceId, password };
}

/** The broker's check of a device's credentials: enrolled, not revoked, the right secret. */
export function authenticateDevice(
  store: BridgeStore,
  username: string,
  password: string,
): BrokerPrincipal | undefined {
  const device = store.getDevice(username);
  if (!device || device.revokedAt) return undefined;
  const given = Buffer.from(sha256Hex(password), 'hex');
  const held = Buffer.from(device.secretHash, 'hex');
  if (given.length !== held.length || !timingSafeEqual(given, held)) return undefined;
  return { kind: 'device', device: device.id, school: device.school };
}
