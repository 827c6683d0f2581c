import type { RosterVariant } from './roster.js';
/**
 * MQTT topics of contract v1. The major version is part of every topic, so a v2 peer never reads a
 * v1 message by accident; minor additions are new optional fields, which every peer ignores when it
 * does not know them.
 */
export const TOPIC_ROOT = 'educard/v1';

/**
 * The topic segment of what is the whole district's rather than one school's (the hotlist). No school
 * id can take it: an Identifier starts with a letter or a digit.
 */
export const DISTRICT = '_district';

/** The topic segment of the bridge's probes of its own subscription (`topics.bridgeProbe`): no school's either. */
const BRIDGE = '_bridge';

const segment = (value: string, what: string) => {
  if (!value || /[/+#\s]/.test(value)) throw new TypeError(`${what} "${value}" cannot be part of a topic`);
  return value;
};

export const topics = {
  /** Retained: the device's birth (online) or death (offline, also its will). */
  state: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/state`,
  /** QoS 1: signed batches of journal records. */
  events: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/events`,
  /** Retained: the highest contiguous sequence the bridge has committed. */
  ack: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/ack`,
  /** Requests to one device, and its answers. */
  commands: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/commands`,
  results: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/results`,
  /** Retained: the release this device should run (an UpdateOffer), or its withdrawal. */
  release: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/release`,
  /** QoS 1: the device's progress with an offered release (UpdateProgress). */
  update: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/update`,
  /** QoS 1, not retained: the bridge's answer to a birth that asked for what the device needs (SyncReply). */
  sync: (school: string, device: string) =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/devices/${segment(device, 'device')}/sync`,
  /** Retained: every root-signed key set, oldest first, so a device any number behind can catch up. */
  rosterKeySets: (school: string) => `${TOPIC_ROOT}/${segment(school, 'school')}/roster/keysets`,
  /**
   * Retained: the manifest of the latest snapshot; its body is served over HTTP. The desk roster (the
   * whole roster, as gateways before variants read it) on `roster/snapshot`, the gate's on
   * `roster/gate/snapshot`.
   */
  rosterSnapshot: (school: string, variant: RosterVariant = 'desk') =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/roster/${variantSegment(variant)}snapshot`,
  /** Retained: the latest delta, manifest and body together; per variant as rosterSnapshot. */
  rosterDelta: (school: string, variant: RosterVariant = 'desk') =>
    `${TOPIC_ROOT}/${segment(school, 'school')}/roster/${variantSegment(variant)}delta`,
  /** Retained: the manifest of the latest library catalogue; its body is served over HTTP. */
  catalogueSnapshot: (school: string) => `${TOPIC_ROOT}/${segment(school, 'school')}/catalogue/snapshot`,
  /**
   * Retained: every root-signed key set, as on a school's roster topic, for devices that hold no school
   * roster (a venue).
   */
  districtKeySets: () => `${TOPIC_ROOT}/${DISTRICT}/keysets`,
  /** Retained: the manifest of the district's latest hotlist snapshot; its body is served over HTTP. */
  hotlistSnapshot: () => `${TOPIC_ROOT}/${DISTRICT}/hotlist/snapshot`,
  /** Retained: the district's latest hotlist delta, manifest and body together. */
  hotlistDelta: () => `${TOPIC_ROOT}/${DISTRICT}/hotlist/delta`,
  /** Retained: a venue's signed plan (its class visits booked), manifest and body together. */
  venuePlan: (school: string) => `${TOPIC_ROOT}/${segment(school, 'school')}/venue/plan`,
  /**
   * At the devices' batch QoS, from a bridge instance to itself through its events subscription
   * (`filters.allEvents` matches it): proof that the broker delivers what devices publish there. No
   * device reads or writes it; `parseDeviceTopic` takes it for no device's.
   */
  bridgeProbe: (instance: string) =>
    `${TOPIC_ROOT}/${BRIDGE}/devices/${segment(instance, 'instance')}/events`,
} as const;

/**
 * A filter shared by a group (`$share/GROUP/…`): the broker gives each message to one subscriber of
 * the group, so bridge instances share the devices' messages. Without a group, the filter itself.
 */
export const sharedFilter = (group: string | undefined, filter: string): string =>
  group ? `$share/${group}/${filter}` : filter;

/** The topic filter a subscription stands for, without its `$share/GROUP/` prefix. */
export const unsharedFilter = (filter: string): string =>
  filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;

/** Subscription filters the bridge uses (shared by a group when several bridges share load: `sharedFilter`). */
export const filters = {
  allEvents: `${TOPIC_ROOT}/+/devices/+/events`,
  allStates: `${TOPIC_ROOT}/+/devices/+/state`,
  allResults: `${TOPIC_ROOT}/+/devices/+/results`,
  allUpdates: `${TOPIC_ROOT}/+/devices/+/update`,
} as const;

const DEVICE_TOPIC_KINDS = [
  'state',
  'events',
  'ack',
  'commands',
  'results',
  'release',
  'update',
  'sync',
] as const;
export type DeviceTopicKind = (typeof DEVICE_TOPIC_KINDS)[number];

/** Splits a device topic into its parts, or nothing when it is not one. */
export function parseDeviceTopic(
  topic: string,
): { school: string; device: string; kind: DeviceTopicKind } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 6 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[3] !== 'devices')
    return undefined;
  // A reserved segment (`_district`, the bridge's probes) is no school.
  if (parts[2]?.startsWith('_')) return undefined;
  const kind = parts[5] as DeviceTopicKind;
  if (!DEVICE_TOPIC_KINDS.includes(kind)) return undefined;
  return { school: parts[2] as string, device: parts[4] as string, kind };
}

/** The desk roster keeps the topics of the whole roster, so gateways before variants still find it. */
function variantSegment(variant: RosterVariant): string {
  return variant === 'desk' ? '' : `${variant}/`;
}
