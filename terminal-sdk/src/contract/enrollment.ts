import { z } from 'zod';
import { BrokerNodeList } from '../broker-nodes/index.js';
import type { Ed25519KeyPair } from '../crypto/ed25519.js';
import { sha256Hex } from '../crypto/encoding.js';
import { Identifier, IsoTime, PublicKey, Sha256Hex, SPEC_VERSION } from './common.js';
import { BatchQos } from './messages.js';
import { type SignedEnvelope, SignedEnvelopeSchema, signDocument } from './signed.js';

/** What a device sends to `POST /v1/enroll`, with the one-time token a technician got from the bridge. */
export const EnrollmentRequest = z.object({
  token: z.string().min(16).max(128),
  deviceId: Identifier,
  publicKey: PublicKey,
});
export type EnrollmentRequest = z.infer<typeof EnrollmentRequest>;

/**
 * The bridge's signed statement of an enrollment, made with its current roster key. The device checks
 * it against the key sets that chain from the root keys it pinned, so a bridge that cannot prove it
 * holds a key the school's root vouches for gets neither the device's trust nor its events. The
 * token's hash binds the answer to this request; the device's key binds it to this device.
 */
export const EnrollmentProof = z.object({
  type: z.literal('enrollment'),
  spec: z.literal(SPEC_VERSION),
  device: Identifier,
  publicKey: PublicKey,
  school: Identifier,
  tokenSha256: Sha256Hex,
  mqttUrl: z.string().min(1),
  /** The cluster's other nodes the device may fail over to, signed with the first (a bridge of the version before names none). */
  mqttFailover: BrokerNodeList.optional(),
  /** The QoS the device publishes its batches with, when the bridge names one (a district on NATS: 0). */
  mqttBatchQos: BatchQos.optional(),
  username: z.string().min(1),
  issuedAt: IsoTime,
});
export type EnrollmentProof = z.infer<typeof EnrollmentProof>;

/** The answer to an enrollment: broker credentials, the key sets to check the proof with, the proof. */
export const EnrollmentResponse = z.object({
  school: Identifier,
  mqtt: z.object({
    url: z.string().min(1),
    /** The cluster's other nodes, as the proof names them (the gateway's `uplink.failover`). */
    failover: BrokerNodeList.optional(),
    /** As the proof's `mqttBatchQos` (the gateway's `uplink.batch.qos`). */
    batchQos: BatchQos.optional(),
    username: z.string().min(1),
    password: z.string().min(1),
  }),
  /** Every key set the bridge has issued, oldest first, as signed envelopes. */
  keySets: z.array(SignedEnvelopeSchema).min(1).max(1000),
  proof: SignedEnvelopeSchema,
});
export type EnrollmentResponse = z.infer<typeof EnrollmentResponse>;

export const enrollmentTokenHash = (token: string): string => sha256Hex(token);

export function signEnrollmentProof(
  proof: Omit<EnrollmentProof, 'type' | 'spec'>,
  rosterKeys: Ed25519KeyPair[],
): SignedEnvelope<EnrollmentProof> {
  return signDocument<EnrollmentProof>({ type: 'enrollment', spec: SPEC_VERSION, ...proof }, rosterKeys);
}
