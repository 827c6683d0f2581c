import { randomBytes } from 'node:crypto';
import {
  Batches,
  filters,
  oneWayFormats,
  parseDeviceTopic,
  parseMessage,
  SPEC_VERSION,
  sharedFilter,
  topics,
  type UpdateOffer,
  UpdateProgress,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AuditSink } from '../access/index.js';
import type { Directory } from '../directory/index.js';
import type { Releases } from '../releases/index.js';
import {
  type BridgeStore,
  logFailure,
  migrateModule,
  type Presence,
  type SqlDatabase,
} from '../store/index.js';
import type { RolloutsConfig } from './config.js';
import { releaseOffer, schoolRules } from './offer.js';
import type { DeviceRow, Offering, RolloutRow } from './rows.js';
import { assignPhases, RolloutSpec } from './spec.js';
import { ROLLOUT_STEPS } from './tables.js';
import type { RolloutDevice, RolloutState, RolloutView } from './types.js';
import { quietWindows, windowAt } from './windows.js';

const IN_FLIGHT = ['offered', 'downloading', 'waiting', 'switching', 'checking'];
const FAILED = ['rolled-back', 'refused'];
const TERMINAL = ['committed', ...FAILED, 'skipped', 'withdrawn'];

/** A rollout the bridge will not make or change: the caller answers with the status. */
export class RolloutRefused extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'RolloutRefused';
  }
}

export interface RolloutsDeps {
  db: SqlDatabase;
  store: BridgeStore;
  directory: Directory;
  releases: Releases;
  client: MqttClient;
  audit: AuditSink;
  config: RolloutsConfig;
  defaultTimeZone: string;
  logger: Logger;
  now?: () => Date;
  shareGroup?: string;
  /** With several bridge instances: whether this one takes the device's messages (ingest's partitions). */
  owns?: (device: string) => boolean;
}

/**
 * Rollouts of gateway releases, after AWS IoT Jobs and Mender: the target devices in phases (a canary
 * per school, then shares of the fleet), offered at a pace, never while their school's arrival or
 * dismissal is on, each phase waiting for the one before; aborted by its rule (k failures, or p % of
 * the devices finished after n). Devices report progress over MQTT; an offline device is offered the
 * release when it comes back. The bridge distributes only: every release is signed offline.
 */
export class Rollouts {
  private timer: NodeJS.Timeout | undefined;
  private readonly allowance = new Map<string, { tokens: number; at: number }>();
  private readonly offers = new Map<string, Offering>();
  /** Progress reports, written together (batches.ts). */
  private readonly progress: Batches<UpdateProgress>;
  private readonly now: () => Date;

  constructor(private readonly deps: RolloutsDeps) {
    migrateModule(deps.db, 'rollouts', ROLLOUT_STEPS);
    this.now = deps.now ?? (() => new Date());
    this.progress = new Batches((batch) => this.applyProgress(batch), deps.logger, {
      everyMs: 100,
      failure: 'update progress reports were not written',
    });
  }

  async start(): Promise<void> {
    const { client, shareGroup } = this.deps;
    client.on('message', (topic, payload) => {
      try {
        this.onMessage(topic, payload);
      } catch (error) {
        this.deps.logger.error({ err: error, topic }, 'rollout message not handled');
      }
    });
    await client.subscribeAsync(sharedFilter(shareGroup, filters.allUpdates), { qos: 1 });
  }

  /** The phases' timer: on one bridge instance at a time (the runtime holds it under a lease). */
  startTicks(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tickSafely(), this.deps.config.tickMs);
  }

  /** Stops the ticks (the duty of one instance at a time). */
  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Writes the progress reports received and not yet written: every instance takes its devices'
   * reports, so each flushes them when it stops, after its broker connection has closed.
   */
  flushProgress(): void {
    this.progress.flush();
  }

  /** Makes a rollout: its devices in phases. Refused when it names nothing, or a device another rollout holds. */
  create(input: unknown, actor: string): RolloutView {
    const parsed = RolloutSpec.safeParse(input);
    if (!parsed.success)
      throw new RolloutRefused(
        400,
        parsed.error.issues.map((i) => `${i.path.join('.') || 'rollout'}: ${i.message}`).join('; '),
      );
    const spec = parsed.data;
    const { store, releases, db } = this.deps;
    const available = releases.versions(spec.version);
    if (!available.length)
      throw new RolloutRefused(
        404,
        `no release ${spec.version} on this bridge: add it with educard-bridge releases add`,
      );
    const targets = new Map<string, string>();
    for (const school of spec.schools)
      for (const device of store.listDevices(school))
        if (!device.revokedAt) targets.set(device.id, device.school);
    for (const id of spec.devices) {
      const device = store.getDevice(id);
      if (!device || device.revokedAt) throw new RolloutRefused(404, `no enrolled device ${id}`);
      targets.set(id, device.school);
    }
    for (const tag of spec.tags)
      for (const { device } of db.prepare('SELECT device FROM device_tags WHERE tag = ?').all(tag) as {
        device: string;
      }[]) {
        const held = store.getDevice(device);
        if (held && !held.revokedAt) targets.set(device, held.school);
      }
    if (!targets.size)
      throw new RolloutRefused(400, 'the schools, devices and tags named hold no enrolled device');
    const busy = db
      .prepare(
        `SELECT d.device, r.id FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout
         WHERE r.state IN ('running', 'paused') AND d.state NOT IN (${TERMINAL.map(() => '?').join(', ')})`,
      )
      .all(...TERMINAL) as { device: string; id: string }[];
    const clash = busy.find((row) => targets.has(row.device));
    if (clash)
      throw new RolloutRefused(
        409,
        `device ${clash.device} is in rollout ${clash.id}: pause or abort it first`,
      );
    if (!spec.allowOneWay) {
      for (const [id] of targets) {
        const presence = store.getDevice(id)?.presence;
        const release = available.find((r) => r.arch === presence?.arch);
        const manifest = release && releases.get(release.version, release.arch)?.manifest;
        const oneWay = manifest && presence?.formats ? oneWayFormats(presence.formats, manifest.formats) : [];
        if (oneWay.length)
          throw new RolloutRefused(
            409,
            `${spec.version} writes ${oneWay.join(', ')}, which ${id}'s release cannot read: a one-way step; create the rollout with allowOneWay to take it`,
          );
      }
    }
    const id = `r-${this.now().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
    const at = this.now().toISOString();
    const phases = assignPhases(
      [...targets].map(([device, school]) => ({ device, school })),
      spec.phases,
    );
    db.transaction(() => {
      db.prepare(
        'INSERT INTO rollouts (id, version, spec, state, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(id, spec.version, JSON.stringify(spec), 'running', actor, at, at);
      const insert = db.prepare(
        'INSERT INTO rollout_devices (rollout, device, school, phase, state, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const { device, school, phase } of phases) insert.run(id, device, school, phase, 'pending', at);
    })();
    this.deps.logger.info(
      { rollout: id, version: spec.version, devices: phases.length, by: actor },
      'rollout created',
    );
    this.tickSafely();
    return this.view(id) as RolloutView;
  }

  pause(id: string): RolloutView {
    return this.move(id, ['running'], 'paused');
  }

  resume(id: string): RolloutView {
    const view = this.move(id, ['paused'], 'running');
    this.tickSafely();
    return view;
  }

  /** Stops a rollout: no device is offered the release any more, and those that have not switched drop it. */
  abort(id: string, reason: string): RolloutView {
    const row = this.row(id);
    if (!row) throw new RolloutRefused(404, `no rollout ${id}`);
    if (row.state === 'aborted' || row.state === 'done')
      throw new RolloutRefused(409, `rollout ${id} is ${row.state}`);
    const at = this.now().toISOString();
    for (const device of this.devices(id)) {
      if (device.state === 'pending' || ['offered', 'downloading', 'waiting'].includes(device.state)) {
        if (device.state !== 'pending')
          this.publish(device.school, device.device, { v: SPEC_VERSION, kind: 'withdraw', rollout: id, at });
        this.setDevice(id, device.device, { state: 'withdrawn', detail: `rollout aborted: ${reason}` });
      }
    }
    this.deps.db
      .prepare('UPDATE rollouts SET state = ?, reason = ?, updated_at = ? WHERE id = ?')
      .run('aborted', reason, at, id);
    this.offers.delete(id);
    this.deps.logger.warn({ rollout: id, reason }, 'rollout aborted');
    return this.view(id) as RolloutView;
  }

  list(): RolloutView[] {
    return (
      this.deps.db.prepare('SELECT id FROM rollouts ORDER BY created_at DESC').all() as { id: string }[]
    ).map(({ id }) => this.view(id) as RolloutView);
  }

  view(id: string): RolloutView | undefined {
    const row = this.row(id);
    if (!row) return undefined;
    const spec = JSON.parse(row.spec) as RolloutSpec;
    const devices = this.devices(id);
    const count = (rows: RolloutDevice[]) =>
      rows.reduce<Record<string, number>>((counts, d) => {
        counts[d.state] = (counts[d.state] ?? 0) + 1;
        return counts;
      }, {});
    return {
      id: row.id,
      version: row.version,
      state: row.state,
      ...(row.reason ? { reason: row.reason } : {}),
      createdBy: row.created_by,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      spec,
      counts: count(devices),
      phases: spec.phases.map((phase, index) => {
        const members = devices.filter((d) => d.phase === index);
        return { index, spec: phase, devices: members.length, counts: count(members) };
      }),
    };
  }

  devices(id: string): RolloutDevice[] {
    return (
      this.deps.db
        .prepare('SELECT * FROM rollout_devices WHERE rollout = ? ORDER BY phase, school, device')
        .all(id) as DeviceRow[]
    ).map((row) => ({
      device: row.device,
      school: row.school,
      phase: row.phase,
      state: row.state,
      ...(row.detail ? { detail: row.detail } : {}),
      ...(row.fetched !== null ? { fetched: row.fetched } : {}),
      ...(row.total !== null ? { total: row.total } : {}),
      ...(row.offered_at ? { offeredAt: row.offered_at } : {}),
      updatedAt: row.updated_at,
    }));
  }

  /** The running or paused rollout that distributes `version`, if any. */
  inUse(version: string): string | undefined {
    return (
      this.deps.db
        .prepare("SELECT id FROM rollouts WHERE version = ? AND state IN ('running', 'paused') LIMIT 1")
        .get(version) as { id: string } | undefined
    )?.id;
  }

  tag(device: string, add: string[], remove: string[]): string[] {
    const { db } = this.deps;
    if (!this.deps.store.getDevice(device)) throw new RolloutRefused(404, `no enrolled device ${device}`);
    for (const tag of add)
      db.prepare('INSERT INTO device_tags (device, tag) VALUES (?, ?) ON CONFLICT DO NOTHING').run(
        device,
        tag,
      );
    for (const tag of remove)
      db.prepare('DELETE FROM device_tags WHERE device = ? AND tag = ?').run(device, tag);
    return this.tags(device);
  }

  tags(device: string): string[] {
    return (
      this.deps.db.prepare('SELECT tag FROM device_tags WHERE device = ? ORDER BY tag').all(device) as {
        tag: string;
      }[]
    ).map((row) => row.tag);
  }

  private move(id: string, from: RolloutState[], to: RolloutState): RolloutView {
    const row = this.row(id);
    if (!row) throw new RolloutRefused(404, `no rollout ${id}`);
    if (!from.includes(row.state))
      throw new RolloutRefused(409, `rollout ${id} is ${row.state}, not ${from.join(' or ')}`);
    this.deps.db
      .prepare('UPDATE rollouts SET state = ?, updated_at = ? WHERE id = ?')
      .run(to, this.now().toISOString(), id);
    this.deps.logger.info({ rollout: id, state: to }, `rollout ${to}`);
    return this.view(id) as RolloutView;
  }

  private row(id: string): RolloutRow | undefined {
    return this.deps.db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as RolloutRow | undefined;
  }

  private setDevice(
    rollout: string,
    device: string,
    change: {
      state: string;
      detail?: string | undefined;
      fetched?: number;
      total?: number;
      offered?: boolean;
    },
  ): void {
    const at = this.now().toISOString();
    this.deps.db
      .prepare(
        `UPDATE rollout_devices SET state = ?, detail = ?, fetched = COALESCE(?, fetched), total = COALESCE(?, total),
           offered_at = CASE WHEN ? THEN ? ELSE offered_at END, updated_at = ? WHERE rollout = ? AND device = ?`,
      )
      .run(
        change.state,
        change.detail ?? null,
        change.fetched ?? null,
        change.total ?? null,
        change.offered ? 1 : 0,
        at,
        at,
        rollout,
        device,
      );
  }

  /** Retained, so that a device that was offline finds the offer (or its withdrawal) when it comes back. */
  private publish(school: string, device: string, message: UpdateOffer): void {
    this.deps.client.publish(topics.release(school, device), JSON.stringify(message), {
      qos: 1,
      retain: true,
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parts = parseDeviceTopic(topic);
    if (!parts || this.deps.owns?.(parts.device) === false) return;
    if (parts.kind === 'state') {
      this.onState(parts.device, payload);
      return;
    }
    if (parts.kind !== 'update') return;
    const parsed = parseMessage(UpdateProgress, payload);
    if (!parsed.ok || parsed.value.device !== parts.device) {
      this.deps.logger.warn(
        { device: parts.device, reason: parsed.ok ? 'device differs from topic' : parsed.error },
        'update progress rejected',
      );
      return;
    }
    this.progress.push(parsed.value);
  }

  /** The progress reports that arrived since the last batch, in one transaction. */
  private applyProgress(batch: UpdateProgress[]): void {
    const failed = new Set<string>();
    this.deps.db.transaction(() => {
      for (const progress of batch) if (this.applyOne(progress)) failed.add(progress.rollout);
    })();
    for (const rollout of failed) this.checkAbortRule(rollout);
  }

  /** One device's progress; true when it newly failed (the abort rule is asked then). */
  private applyOne(progress: UpdateProgress): boolean {
    const held = this.deps.db
      .prepare('SELECT * FROM rollout_devices WHERE rollout = ? AND device = ?')
      .get(progress.rollout, progress.device) as DeviceRow | undefined;
    if (!held) return false;
    const outcome = ['committed', ...FAILED].includes(progress.state);
    // A device's real outcome always counts (it may have switched just before a withdrawal); progress
    // after an outcome does not move it back.
    if (TERMINAL.includes(held.state) && !outcome) return false;
    if (held.state === progress.state && held.detail === (progress.detail ?? null) && !progress.bytes)
      return false;
    this.setDevice(progress.rollout, progress.device, {
      state: progress.state,
      detail: progress.detail,
      ...(progress.bytes ? { fetched: progress.bytes.fetched, total: progress.bytes.total } : {}),
    });
    if (outcome && held.state !== progress.state)
      this.deps.logger.info(
        {
          rollout: progress.rollout,
          device: progress.device,
          state: progress.state,
          detail: progress.detail,
        },
        'rollout device finished',
      );
    return FAILED.includes(progress.state) && !FAILED.includes(held.state);
  }

  /** A device back online: offers under way are said again, with fresh quiet windows. */
  private onState(device: string, payload: Buffer): void {
    if (!cameOnline(payload)) return;
    const rows = this.deps.db
      .prepare(
        `SELECT d.* FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout
         WHERE d.device = ? AND r.state IN ('running', 'paused') AND d.state IN ('offered', 'downloading', 'waiting')`,
      )
      .all(device) as DeviceRow[];
    const presence = this.deps.store.getDevice(device)?.presence;
    for (const row of rows) this.offer(this.offering(row.rollout), row, presence, true);
  }

  private checkAbortRule(id: string): void {
    const row = this.row(id);
    if (!row || (row.state !== 'running' && row.state !== 'paused')) return;
    const spec = JSON.parse(row.spec) as RolloutSpec;
    const devices = this.devices(id);
    const failures = devices.filter((d) => FAILED.includes(d.state)).length;
    const finished = failures + devices.filter((d) => d.state === 'committed').length;
    const rule =
      failures >= spec.abort.failures
        ? `${failures} device(s) failed (the rule allows ${spec.abort.failures - 1})`
        : spec.abort.percent !== undefined &&
            finished >= spec.abort.minDevices &&
            (failures / finished) * 100 >= spec.abort.percent
          ? `${failures} of ${finished} devices failed, at least ${spec.abort.percent} % after ${spec.abort.minDevices}`
          : undefined;
    if (!rule) return;
    this.abort(id, rule);
    this.deps.audit.record({
      actor: 'rollout-rule',
      action: 'rollouts.abort',
      target: `rollout:${id}`,
      outcome: 'ok',
      detail: { reason: rule, version: row.version },
    });
  }

  private tickSafely(): void {
    try {
      this.tick();
    } catch (error) {
      logFailure(this.deps.logger, { err: error }, 'rollout tick failed');
    }
  }

  private tick(): void {
    const running = this.deps.db.prepare("SELECT id FROM rollouts WHERE state = 'running'").all() as {
      id: string;
    }[];
    for (const { id } of running) this.advance(id);
  }

  /**
   * Offers the release to the next devices of the phase in progress, as the pace and the windows allow.
   * Runs every `tickMs` for every running rollout: it reads only the devices not finished yet, and each
   * one's presence once.
   */
  private advance(id: string): void {
    const { store, db } = this.deps;
    const rows = db
      .prepare(
        `SELECT * FROM rollout_devices WHERE rollout = ? AND state NOT IN (${TERMINAL.map(() => '?').join(', ')})
         ORDER BY phase, school, device`,
      )
      .all(id, ...TERMINAL) as DeviceRow[];
    if (!rows.length) {
      db.prepare("UPDATE rollouts SET state = 'done', updated_at = ? WHERE id = ?").run(
        this.now().toISOString(),
        id,
      );
      this.offers.delete(id);
      this.deps.logger.info({ rollout: id }, 'rollout done');
      return;
    }
    const presences = new Map<string, Presence | undefined>();
    const presenceOf = (device: string) => {
      if (!presences.has(device)) presences.set(device, store.getDevice(device)?.presence);
      return presences.get(device);
    };
    const stalledBefore = this.now().getTime() - this.deps.config.stallMinutes * 60_000;
    const holds = (row: DeviceRow) =>
      row.state === 'pending'
        ? presenceOf(row.device)?.online === true
        : IN_FLIGHT.includes(row.state) &&
          (presenceOf(row.device)?.online || Date.parse(row.updated_at) > stalledBefore);
    const active = rows.find(holds)?.phase;
    const offering = this.offering(id);
    const { spec } = offering;
    // The pace is a rate: measured on the monotonic clock, whatever the wall clock does.
    const now = performance.now();
    const bucket = this.allowance.get(id) ?? { tokens: 1, at: now };
    const burst = Math.max(1, spec.pace / 6);
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * spec.pace) / 60_000);
    bucket.at = now;
    this.allowance.set(id, bucket);
    // The devices offered in this tick are written in one transaction.
    db.transaction(() => {
      for (const row of rows) {
        if (bucket.tokens < 1) break;
        if (row.state !== 'pending' || (active !== undefined && row.phase > active)) continue;
        if (this.offer(offering, row, presenceOf(row.device), false)) bucket.tokens -= 1;
      }
    })();
  }

  /** A rollout's spec, parsed once while it runs rather than for every device offered. */
  private offering(id: string): Offering {
    let held = this.offers.get(id);
    if (!held) {
      const rollout = this.row(id) as RolloutRow;
      held = { id, spec: JSON.parse(rollout.spec) as RolloutSpec };
      this.offers.set(id, held);
    }
    return held;
  }

  /** Offers the release to one device, as its presence stands; false when it must wait (offline, quiet window). */
  private offer(offering: Offering, row: DeviceRow, presence: Presence | undefined, again: boolean): boolean {
    const { store, releases, config } = this.deps;
    const { id, spec } = offering;
    if (!presence?.online) return false;
    if (!presence.arch) {
      this.setDevice(id, row.device, {
        state: 'skipped',
        detail: 'its release reports no architecture: too old to update itself',
      });
      return false;
    }
    const release = releases.get(spec.version, presence.arch);
    if (!release) {
      this.setDevice(id, row.device, {
        state: 'skipped',
        detail: `no release ${spec.version} for ${presence.arch}`,
      });
      return false;
    }
    if (!again && presence.firmware === spec.version) {
      this.setDevice(id, row.device, { state: 'committed', detail: 'already running it' });
      return true;
    }
    const now = this.now().getTime();
    const { directory, defaultTimeZone } = this.deps;
    const quiet = quietWindows(schoolRules(store, directory, row.school, defaultTimeZone), config, {
      now,
      days: config.quietDays,
      afterHours: spec.afterHours,
    });
    const inside = windowAt(quiet, now);
    if (inside && !again) {
      const detail = `waiting for the ${inside.why} window to close at ${inside.to}`;
      if (row.detail !== detail) this.setDevice(id, row.device, { state: 'pending', detail });
      return false;
    }
    this.publish(
      row.school,
      row.device,
      releaseOffer({ rollout: id, spec, quiet, now, quietDays: config.quietDays, release }),
    );
    if (!again) this.setDevice(id, row.device, { state: 'offered', offered: true });
    return true;
  }
}

/** Whether a device's state says it came online; a malformed one is ingest's to refuse and log. */
function cameOnline(payload: Buffer): boolean {
  if (payload.length === 0) return false;
  try {
    return (JSON.parse(payload.toString('utf8')) as { online?: unknown } | null)?.online === true;
  } catch {
    return false;
  }
}
