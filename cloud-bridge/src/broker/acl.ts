import { TOPIC_ROOT, topics } from '@educard/terminal-sdk';

/** Who is on the other end of a broker connection. */
export type BrokerPrincipal = { kind: 'bridge' } | { kind: 'device'; device: string; school: string };

/**
 * A device's topics, the one statement of its rights that every broker's permissions are made from:
 * the embedded broker checks them here, an external one gets them written into its own accounts.
 */
export function deviceTopics(principal: { school: string; device: string }): {
  publish: string[];
  subscribe: string[];
} {
  const base = `${TOPIC_ROOT}/${principal.school}/devices/${principal.device}`;
  const roster = `${TOPIC_ROOT}/${principal.school}/roster`;
  return {
    publish: [`${base}/state`, `${base}/events`, `${base}/results`, `${base}/update`],
    subscribe: [
      `${base}/ack`,
      `${base}/commands`,
      `${base}/sync`,
      `${base}/release`,
      `${roster}/#`,
      `${roster}/keysets`,
      `${roster}/snapshot`,
      `${roster}/delta`,
      topics.rosterSnapshot(principal.school, 'gate'),
      topics.rosterDelta(principal.school, 'gate'),
      `${TOPIC_ROOT}/${principal.school}/catalogue/snapshot`,
      topics.venuePlan(principal.school),
      topics.districtKeySets(),
      topics.hotlistSnapshot(),
      topics.hotlistDelta(),
    ],
  };
}

/** A device publishes only its own state, events, command results and update progress. */
export function mayPublish(principal: BrokerPrincipal, topic: string): boolean {
  return principal.kind === 'bridge' || deviceTopics(principal).publish.includes(topic);
}

/**
 * A device subscribes only to its own acks, commands, sync answers and release offers, to its school's
 * roster, catalogue and venue plan, and to what is the whole district's: the key sets and the hotlist.
 */
export function maySubscribe(principal: BrokerPrincipal, filter: string): boolean {
  return principal.kind === 'bridge' || deviceTopics(principal).subscribe.includes(filter);
}
