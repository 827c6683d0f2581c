import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type EnrollmentRequest, sha256Hex } from '@educard/terminal-sdk';
import type { BrokerPrincipal } from '../broker/index.js';
import type { BridgeStore, Device } from '../store/index.js';

/** An enrollment refused: `status` 403 for the token, 409 for an id that is enrolled and live. */
export class EnrollmentRefused extends Error {
  constructor(
    readonly status: 403 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'EnrollmentRefused';
  }
}

const TOKEN_REFUSED = 'the enrollment token is unknown, already used or expired: ask for a new one';

function refusedFor(
  reason: 'token' | 'bound' | 'enrolled',
  deviceId: string,
  bound?: string,
): EnrollmentRefused {
  if (reason === 'bound')
    return new EnrollmentRefused(
      403,
      `this enrollment token was made for device ${bound ?? 'another id'}, not ${deviceId}: use it on that device, or ask for a token for ${deviceId}`,
    );
  if (reason === 'enrolled')
    return new EnrollmentRefused(
      409,
      `device ${deviceId} is enrolled and not revoked, and a token never takes over a live device: if this is that device set up again, revoke it first (educard-bridge devices revoke ${deviceId}), then enroll`,
    );
  return new EnrollmentRefused(403, TOKEN_REFUSED);
}

export interface Enrollment<P> {
  device: Device;
  /** The broker password, told to the device once; only its hash is kept. */
  password: string;
  proof: P;
  /** A new key (or school) for a known id: its events start a new chain from seq 1. */
  newEpoch: boolean;
  previousSchool?: string;
}

/**
 * Registers a device's public key against a one-time token and gives it broker credentials. The
 * proof the device checks is made first (`prove`, given the token's school), and only then is the
 * enrollment committed, in one transaction: a refusal, or a failure before, changes nothing and leaves
 * the token usable. An id enrolled and not revoked is refused whatever the token (issue 14: a spare
 * token of the school took over a live gate); a token bound to a device id enrolls that id only.
 */
export function enroll<P>(
  store: BridgeStore,
  request: EnrollmentRequest,
  prove: (school: string) => P,
  now = new Date(),
): Enrollment<P> {
  const at = now.toISOString();
  const grant = store.tokenGrant(request.token, at);
  if (!grant) throw refusedFor('token', request.deviceId);
  if (grant.device !== undefined && grant.device !== request.deviceId)
    throw refusedFor('bound', request.deviceId, grant.device);
  const held = store.getDevice(request.deviceId);
  if (held && !held.revokedAt) throw refusedFor('enrolled', request.deviceId);
  const proof = prove(grant.school);
  const password = randomBytes(24).toString('base64url');
  const outcome = store.enrollDevice(
    request.token,
    { id: request.deviceId, publicKey: request.publicKey, secretHash: sha256Hex(password) },
    at,
  );
  if (!outcome.ok) throw refusedFor(outcome.refused, request.deviceId, grant.device);
  return {
    device: outcome.device,
    password,
    proof,
    newEpoch: outcome.newEpoch,
    ...(outcome.previousSchool !== undefined ? { previousSchool: outcome.previousSchool } : {}),
  };
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

/**
 * The gates of a school: its devices not revoked whose last state named a gate, or named nothing yet
 * (a gateway older than the station field).
 */
export function schoolGates(store: Pick<BridgeStore, 'listDevices'>, school: string): Device[] {
  return store
    .listDevices(school)
    .filter((device) => !device.revokedAt && (device.presence?.station ?? 'gate') === 'gate');
}
