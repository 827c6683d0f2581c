import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelay,
  type DataFormats,
  DEVICE_DELIVERY_QOS,
  type ReleaseManifest,
  type RosterKeySet,
  retriableStatus,
  SPEC_VERSION,
  topics,
  type UpdateOffer,
  UpdateOffer as UpdateOfferSchema,
  type UpdateProgress,
  verifyReleaseSignatures,
} from '@educard/terminal-sdk';
import mqtt, { type MqttClient } from 'mqtt';
import { fetchRetrying } from './fetch-retrying.js';

export interface LightDeviceOptions {
  id: string;
  school: string;
  mqttUrl: string;
  bridgeHttp: string;
  username: string;
  password: string;
  firmware: string;
  formats: DataFormats;
  /** The key set whose release keys the device trusts. */
  keySet: RosterKeySet;
  /** SHA-256 of the files the device holds already: they are not fetched. */
  holds: ReadonlySet<string>;
  /** What the device ends with once it has the release: committed, or a failure and why. */
  outcome?: (
    manifest: ReleaseManifest,
  ) => { state: 'committed' } | { state: 'rolled-back' | 'refused'; detail: string };
}

/** Tries of one file, as a gateway's `update.downloadRetries` (6) plus the first. */
const TRIES = 7;

/** A file the bridge kept turning away (busy, cut): the device waits and tries it again, as a gateway does. */
class WillRetry extends Error {}

/**
 * Manifests verified in this process, by the key set (the object the devices were given) and the
 * SHA-256 of their bytes as fetched. A manifest is about a megabyte, and a thousand simulated devices
 * verifying the same one again on this one machine would take the CPU the bridge is measured with (a
 * real fleet verifies on its own devices: a gateway verifies every manifest it fetches in full). Each
 * device still fetches the manifest and takes only what was verified, byte for byte: the hash is of
 * the bytes it fetched, and must be the one its offer names.
 */
const verifiedManifests = new WeakMap<RosterKeySet, Map<string, ReleaseManifest>>();

/**
 * A device that does what a gateway does with an offer, without being one: it verifies the manifest
 * against the release keys, fetches the files it lacks over HTTP (checking each SHA-256), and reports
 * its progress and an outcome over MQTT. A thousand fit in one process, for rollouts at fleet scale.
 */
export class LightDevice {
  readonly offers: UpdateOffer[] = [];
  /** Bytes this device fetched. */
  fetched = 0;
  /** Why the device did not commit, when it did not. */
  failure: string | undefined;
  finished: Promise<UpdateProgress['state']>;
  private finish: (state: UpdateProgress['state']) => void = () => undefined;
  private working = false;

  private constructor(
    private readonly options: LightDeviceOptions,
    readonly client: MqttClient,
  ) {
    this.finished = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get id(): string {
    return this.options.id;
  }

  static async connect(options: LightDeviceOptions): Promise<LightDevice> {
    const client = await mqtt.connectAsync(
      options.mqttUrl,
      {
        clientId: options.id,
        username: options.username,
        password: options.password,
        clean: true,
        reconnectPeriod: 1000,
        connectTimeout: 30_000,
        // The first connection fails with its reason (a broker's limit, refused credentials) rather than
        // being retried for ever; once connected, the client reconnects as a gateway does.
      },
      false,
    );
    const device = new LightDevice(options, client);
    client.on('message', (_topic, payload) => device.onOffer(payload));
    await client.subscribeAsync(topics.release(options.school, options.id), { qos: DEVICE_DELIVERY_QOS });
    await client.publishAsync(
      topics.state(options.school, options.id),
      JSON.stringify({
        v: SPEC_VERSION,
        device: options.id,
        school: options.school,
        online: true,
        bdSeq: 1,
        at: new Date().toISOString(),
        firmware: options.firmware,
        arch: 'x64',
        formats: options.formats,
      }),
      { qos: 1, retain: true },
    );
    return device;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  private report(progress: Omit<UpdateProgress, 'v' | 'device' | 'at' | 'running'>): void {
    const message: UpdateProgress = {
      v: SPEC_VERSION,
      device: this.options.id,
      running: this.options.firmware,
      at: new Date().toISOString(),
      ...progress,
    };
    this.client.publish(topics.update(this.options.school, this.options.id), JSON.stringify(message), {
      qos: 1,
    });
  }

  private onOffer(payload: Buffer): void {
    if (payload.length === 0) return;
    const parsed = UpdateOfferSchema.safeParse(JSON.parse(payload.toString('utf8')));
    if (!parsed.success) return;
    this.offers.push(parsed.data);
    if (parsed.data.kind !== 'offer' || this.working) return;
    this.working = true;
    const offer = parsed.data;
    void this.apply(offer).catch((error: unknown) => {
      this.failure = (error as Error).message;
      this.report({
        rollout: offer.rollout,
        version: '0.0.0',
        state: 'refused',
        detail: (error as Error).message.slice(0, 500),
      });
      this.finish('refused');
    });
  }

  private async apply(offer: Extract<UpdateOffer, { kind: 'offer' }>): Promise<void> {
    const base = { rollout: offer.rollout, version: offer.manifest.version };
    const manifest = await this.verified(offer, base);
    const missing = [
      ...new Map(
        manifest.files.filter((f) => !this.options.holds.has(f.sha256)).map((f) => [f.sha256, f]),
      ).values(),
    ];
    const total = missing.reduce((sum, f) => sum + f.size, 0);
    this.report({ ...base, state: 'downloading', bytes: { fetched: 0, total } });
    for (const file of missing) {
      const body = await this.fetchPatiently(
        new URL(`${offer.files}${file.sha256}`, this.options.bridgeHttp),
        file.path,
        base,
      );
      if (createHash('sha256').update(body).digest('hex') !== file.sha256)
        throw new Error(`tampered: ${file.path}`);
      this.fetched += body.length;
    }
    this.report({ ...base, state: 'checking', bytes: { fetched: this.fetched, total } });
    const outcome = this.options.outcome?.(manifest) ?? { state: 'committed' as const };
    this.report({ ...base, ...outcome });
    this.finish(outcome.state);
  }

  /** The signed manifest the offer names, fetched, checked against its hash, size and the release keys. */
  private async verified(
    offer: Extract<UpdateOffer, { kind: 'offer' }>,
    base: { rollout: string; version: string },
  ): Promise<ReleaseManifest> {
    const { keySet } = this.options;
    const named = offer.manifest;
    const bytes = await this.fetchPatiently(
      new URL(`${named.from}${named.sha256}`, this.options.bridgeHttp),
      'manifest',
      base,
    );
    this.fetched += bytes.length;
    const key = createHash('sha256').update(bytes).digest('hex');
    if (key !== named.sha256 || bytes.length !== named.size)
      throw new Error('tampered: the manifest fetched does not match the SHA-256 and size in the offer');
    let verified = verifiedManifests.get(keySet);
    if (!verified) {
      verified = new Map();
      verifiedManifests.set(keySet, verified);
    }
    const known = verified.get(key);
    if (known) return known;
    const manifest = verifyReleaseSignatures(JSON.parse(bytes.toString('utf8')), keySet);
    if (manifest.version !== named.version)
      throw new Error(`tampered: the offer names ${named.version}, its manifest is ${manifest.version}`);
    verified.set(key, manifest);
    return manifest;
  }

  /**
   * One release file, however long the bridge stays busy: past its tries the device reports "will
   * retry" and tries again after 30 s, doubling up to 5 minutes (a gateway's agent does the same).
   */
  private async fetchPatiently(url: URL, path: string, base: { rollout: string; version: string }) {
    for (let round = 0; ; round++) {
      try {
        return await this.fetchFile(url, path);
      } catch (error) {
        if (!(error instanceof WillRetry)) throw error;
        this.report({ ...base, state: 'downloading', detail: `will retry: ${error.message}` });
        await sleep(backoffDelay(round, 30_000, 300_000));
      }
    }
  }

  /** One release file; a busy bridge (429, 5xx) or a cut connection is tried again as a gateway does. */
  private async fetchFile(url: URL, path: string): Promise<Buffer> {
    const authorization = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
    let response: Response;
    try {
      response = await fetchRetrying(
        url,
        { headers: { authorization } },
        { tries: TRIES, waitMs: (attempt) => backoffDelay(attempt, 1000, 30_000) },
      );
    } catch (error) {
      if (error instanceof TypeError) throw new WillRetry(`${path}: ${error.message} after ${TRIES} tries`);
      throw error;
    }
    if (response.ok) return Buffer.from(await response.arrayBuffer());
    await response.body?.cancel();
    if (retriableStatus(response.status))
      throw new WillRetry(`${path}: HTTP ${response.status} after ${TRIES} tries`);
    throw new Error(`${path}: HTTP ${response.status}`);
  }
}
