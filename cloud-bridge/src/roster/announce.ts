import {
  type IssuedRoster,
  issueRoster,
  type RosterBody,
  type RosterDeltaMessage,
  type RosterKeySetsMessage,
  type RosterManifest,
  type RosterSnapshotMessage,
  type RosterVariant,
  rosterVariantBody,
  SPEC_VERSION,
  topics,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { BodyGrants } from '../grants/index.js';
import type { BridgeStore, RosterVersion } from '../store/index.js';
import type { RosterKeyring } from './keys.js';

/** A school's latest roster version of one variant as the messages its topics carry. */
export interface RosterMessages {
  version: number;
  keySets: RosterKeySetsMessage;
  snapshot: RosterSnapshotMessage;
  delta?: RosterDeltaMessage;
}

/** The snapshot body's URL on the bridge, which gateways fetch when they cannot follow by delta. */
export const snapshotPath = (school: string, version: number | string, variant: RosterVariant = 'desk') =>
  `/v1/roster/${school}/${variant === 'desk' ? '' : `${variant}/`}snapshots/${version}`;

export interface RosterAnnouncerDeps {
  store: BridgeStore;
  client: MqttClient;
  keys: RosterKeyring;
  grants: BodyGrants;
}

const deltaMessage = (delta: IssuedRoster) =>
  JSON.stringify({
    v: SPEC_VERSION,
    manifest: JSON.parse(Buffer.from(delta.manifest).toString('utf8')),
    body: Buffer.from(delta.body).toString('utf8'),
  } satisfies RosterDeltaMessage);

const signedOf = (manifest: string) => (JSON.parse(manifest) as { signed: RosterManifest }).signed;

/**
 * Publishes each school's roster versions, retained, as two series: the desk roster (the whole
 * roster, on the topics gateways before variants read) and the gate roster, made from it here (no
 * names, UIDs hashed under the school's uid key, person ids pseudonyms under its person key) and signed with the same dates. Made the same way
 * every time (canonical bytes, deterministic signatures), a gate version needs no storage of its own.
 */
export class RosterAnnouncer {
  private readonly current = new Map<string, RosterMessages>();
  /** The parts of each school's latest gate version made so far: its snapshot is what gates fetch after a change. */
  private readonly gates = new Map<
    string,
    { version: number; snapshot?: IssuedRoster; delta?: IssuedRoster }
  >();

  constructor(private readonly deps: RosterAnnouncerDeps) {}

  /**
   * One part of the gate series' version made from a stored (desk) version: its delta (small, made
   * first, so a lost card reaches the gates at once) or its snapshot (the whole roster).
   */
  private gatePart(desk: RosterVersion, part: 'snapshot' | 'delta'): IssuedRoster | undefined {
    let held = this.gates.get(desk.school);
    if (held?.version !== desk.version) {
      held = { version: desk.version };
      const latest = this.deps.store.latestRosterVersion(desk.school);
      if (!latest || latest.version <= desk.version) this.gates.set(desk.school, held);
    }
    if (part in held) return held[part];
    const manifest = part === 'snapshot' ? desk.snapshotManifest : desk.deltaManifest;
    const body = part === 'snapshot' ? desk.snapshotBody : desk.deltaBody;
    const { keys } = this.deps;
    let issued: IssuedRoster | undefined;
    if (manifest && body) {
      const signed = signedOf(manifest);
      const whole = JSON.parse(Buffer.from(body).toString('utf8')) as RosterBody;
      issued = issueRoster(
        rosterVariantBody(whole, 'gate', {
          uidKey: keys.uidKey(desk.school),
          personKey: keys.personKey(desk.school),
        }),
        {
          expiresAt: signed.expiresAt,
          keySetVersion: signed.keySetVersion,
          signers: keys.signers,
          variant: 'gate',
        },
      );
    }
    held[part] = issued;
    return issued;
  }

  /** A stored version as one variant issues it. */
  private variantOf(desk: RosterVersion, variant: RosterVariant): RosterVersion {
    if (variant === 'desk') return desk;
    const snapshot = this.gatePart(desk, 'snapshot') as IssuedRoster;
    const delta = this.gatePart(desk, 'delta');
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
    return {
      school: desk.school,
      version: desk.version,
      createdAt: desk.createdAt,
      snapshotManifest: text(snapshot.manifest),
      snapshotBody: snapshot.body,
      ...(delta ? { deltaManifest: text(delta.manifest), deltaBody: delta.body } : {}),
    };
  }

  /**
   * A snapshot body as a variant's manifest names it: what the snapshot routes serve. None for a
   * version thinned to its manifest (superseded long enough for every grant to it to have run out).
   */
  snapshotBody(school: string, version: number, variant: RosterVariant): Uint8Array | undefined {
    const desk = this.deps.store.rosterVersion(school, version);
    if (!desk || desk.snapshotBody.length === 0) return undefined;
    return variant === 'desk' ? desk.snapshotBody : (this.gatePart(desk, 'snapshot') as IssuedRoster).body;
  }

  /**
   * The messages of a school's latest version of a variant, as its topics carry them, the snapshot's
   * URL with a fresh grant: what a device that asks in its birth is sent on its own topic. Kept from
   * the last announce (a body can be megabytes); read from the store when this process has not
   * announced the school yet.
   */
  currentMessages(school: string, variant: RosterVariant = 'desk'): RosterMessages | undefined {
    let held = this.current.get(`${variant}/${school}`);
    if (!held) {
      const latest = this.deps.store.latestRosterVersion(school);
      if (!latest) return undefined;
      held = this.messagesOf(latest, variant);
    }
    return { ...held, snapshot: { ...held.snapshot, url: this.deps.grants.sign(held.snapshot.url) } };
  }

  /** The messages of a version, the snapshot's URL without its grant (a grant is signed when it is sent). */
  private messagesOf(desk: RosterVersion, variant: RosterVariant): RosterMessages {
    const version = this.variantOf(desk, variant);
    const messages: RosterMessages = {
      version: version.version,
      keySets: this.deps.keys.keySetsMessage,
      snapshot: {
        v: SPEC_VERSION,
        manifest: JSON.parse(version.snapshotManifest),
        url: snapshotPath(version.school, version.version, variant),
      },
      ...(version.deltaManifest && version.deltaBody
        ? {
            delta: {
              v: SPEC_VERSION,
              manifest: JSON.parse(version.deltaManifest),
              body: Buffer.from(version.deltaBody).toString('utf8'),
            },
          }
        : {}),
    };
    this.current.set(`${variant}/${version.school}`, messages);
    return messages;
  }

  /** The key sets, then each variant's delta and snapshot, retained. */
  async announce(version: RosterVersion): Promise<void> {
    const { client } = this.deps;
    const retained = { qos: 1 as const, retain: true };
    await client.publishAsync(
      topics.rosterKeySets(version.school),
      JSON.stringify(this.deps.keys.keySetsMessage),
      retained,
    );
    const gateDelta = this.gatePart(version, 'delta');
    if (gateDelta)
      await client.publishAsync(
        topics.rosterDelta(version.school, 'gate'),
        deltaMessage(gateDelta),
        retained,
      );
    if (version.deltaManifest && version.deltaBody)
      await client.publishAsync(
        topics.rosterDelta(version.school),
        deltaMessage({ manifest: Buffer.from(version.deltaManifest), body: version.deltaBody }),
        retained,
      );
    await this.announceSnapshot(version);
  }

  /** Each variant's snapshot manifest and URL, with a fresh grant: what a gateway behind by more than a delta fetches. */
  async announceSnapshot(version: RosterVersion): Promise<void> {
    for (const variant of ['gate', 'desk'] as const) {
      const held = this.current.get(`${variant}/${version.school}`);
      const messages = held?.version === version.version ? held : this.messagesOf(version, variant);
      await this.deps.client.publishAsync(
        topics.rosterSnapshot(version.school, variant),
        JSON.stringify({ ...messages.snapshot, url: this.deps.grants.sign(messages.snapshot.url) }),
        { qos: 1, retain: true },
      );
    }
  }
}
