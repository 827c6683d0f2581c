import { createHash } from 'node:crypto';
import {
  type DataFormats,
  type ReleaseManifest,
  type RosterKeySet,
  SPEC_VERSION,
  topics,
  type UpdateOffer,
  UpdateOffer as UpdateOfferSchema,
  type UpdateProgress,
  verifyReleaseSignatures,
} from '@educard/terminal-sdk';
import mqtt, { type MqttClient } from 'mqtt';

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

/**
 * A device that does what a gateway does with an offer, without being one: it verifies the manifest
 * against the release keys, fetches the files it lacks over HTTP (checking each SHA-256), and reports
 * its progress and an outcome over MQTT. A thousand fit in one process, for rollouts at fleet scale.
 */
export class LightDevice {
  readonly offers: UpdateOffer[] = [];
  /** Bytes this device fetched. */
  fetched = 0;
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
    await client.subscribeAsync(topics.release(options.school, options.id), { qos: 1 });
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
    const manifest = verifyReleaseSignatures(offer.manifest, this.options.keySet);
    const base = { rollout: offer.rollout, version: manifest.version };
    const missing = [
      ...new Map(
        manifest.files.filter((f) => !this.options.holds.has(f.sha256)).map((f) => [f.sha256, f]),
      ).values(),
    ];
    const total = missing.reduce((sum, f) => sum + f.size, 0);
    this.report({ ...base, state: 'downloading', bytes: { fetched: 0, total } });
    const authorization = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
    for (const file of missing) {
      const response = await fetch(new URL(`${offer.files}${file.sha256}`, this.options.bridgeHttp), {
        headers: { authorization },
      });
      const body = Buffer.from(await response.arrayBuffer());
      if (!response.ok) throw new Error(`${file.path}: HTTP ${response.status}`);
      if (createHash('sha256').update(body).digest('hex') !== file.sha256)
        throw new Error(`tampered: ${file.path}`);
      this.fetched += body.length;
    }
    this.report({ ...base, state: 'checking', bytes: { fetched: this.fetched, total } });
    const outcome = this.options.outcome?.(manifest) ?? { state: 'committed' as const };
    this.report({ ...base, ...outcome });
    this.finish(outcome.state);
  }
}
