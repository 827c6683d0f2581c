import { LOCAL_ROOT, localTopics } from '@educard/terminal-sdk';

/** An authenticated terminal, as the broker knows it. */
export interface TerminalPrincipal {
  readonly id: string;
  readonly stations: readonly string[];
}

/** A terminal publishes only requests, and only to its own stations. */
export function mayPublish(terminal: TerminalPrincipal, topic: string): boolean {
  return terminal.stations.some((station) => topic === localTopics.requests(station));
}

/**
 * A terminal subscribes (exact topics, no wildcards) to the gateway's state and, for each of its
 * stations, to the taps, the tagged items, the view and its own replies.
 */
export function maySubscribe(terminal: TerminalPrincipal, filter: string): boolean {
  if (filter === localTopics.gatewayState()) return true;
  return terminal.stations.some(
    (station) =>
      filter === localTopics.taps(station) ||
      filter === localTopics.items(station) ||
      filter === localTopics.view(station) ||
      filter === localTopics.replies(station, terminal.id),
  );
}

const STATIONS = `${LOCAL_ROOT}/stations/`;
const REQUESTS = '/requests';

/** The station a request topic names, if it is one. */
export function requestStation(topic: string): string | undefined {
  if (!topic.startsWith(STATIONS) || !topic.endsWith(REQUESTS)) return undefined;
  const station = topic.slice(STATIONS.length, -REQUESTS.length);
  return station && !station.includes('/') ? station : undefined;
}
