import { TOPIC_ROOT, topics } from '@educard/terminal-sdk';

/** Who is on the other end of a broker connection. */
export type BrokerPrincipal = { kind: 'bridge' } | { kind: 'device'; device: string; school: string };

const deviceBase = (p: { school: string; device: string }) => `${TOPIC_ROOT}/${p.school}/devices/${p.device}`;

/** A device publishes only its own state, events, command results and update progress. */
export function mayPublish(principal: BrokerPrincipal, topic: string): boolean {
  if (principal.kind === 'bridge') return true;
  const base = deviceBase(principal);
  return [`${base}/state`, `${base}/events`, `${base}/results`, `${base}/update`].includes(topic);
}

/**
 * A device subscribes only to its own acks, commands and release offers, to its school's roster,
 * catalogue and venue plan, and to what is the whole district's: the key sets and the hotlist.
 */
export function maySubscribe(principal: BrokerPrincipal, filter: string): boolean {
  if (principal.kind === 'bridge') return true;
  const base = deviceBase(principal);
  const roster = `${TOPIC_ROOT}/${principal.school}/roster`;
  return [
    `${base}/ack`,
    `${base}/commands`,
    `${base}/release`,
    `${roster}/#`,
    `${roster}/keysets`,
    `${roster}/snapshot`,
    `${roster}/delta`,
    `${TOPIC_ROOT}/${principal.school}/catalogue/snapshot`,
    topics.venuePlan(principal.school),
    topics.districtKeySets(),
    topics.hotlistSnapshot(),
    topics.hotlistDelta(),
  ].includes(filter);
}
