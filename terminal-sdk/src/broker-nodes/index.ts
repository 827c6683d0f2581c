import { ErrorWithSubackPacket, type IClientOptions } from 'mqtt';
import { z } from 'zod';

/** At most this many nodes: a cluster is a handful, and the list is configuration, not data. */
export const MAX_BROKER_NODES = 16;

/** A broker node's URL in a configuration. */
export const BrokerUrl = z.string().regex(/^(mqtts?|wss?):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL');

/** A cluster's other nodes in a configuration; whether they go with the first is `brokerNodesProblem`. */
export const BrokerNodeList = z.array(BrokerUrl).max(MAX_BROKER_NODES - 1);

/** Why `failover` cannot be one cluster with `url` (for a configuration's check), or undefined. */
export function brokerNodesProblem(url: string, failover: readonly string[]): string | undefined {
  try {
    new BrokerNodes(url, failover);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A SUBACK's return code for a filter the broker refused (MQTT 5's refusals are codes above it). */
const SUBSCRIPTION_REFUSED = 0x80;

/** Whether a SUBACK's return code for one filter refuses it. */
export function refusesFilter(code: unknown): boolean {
  return typeof code === 'number' && code >= SUBSCRIPTION_REFUSED;
}

/**
 * Whether an error mqtt.js gave a subscribe is the broker refusing a filter, not the connection
 * closing before its SUBACK. mqtt.js drops a refused filter from what it subscribes again after a
 * reconnection: a client that does nothing about it stays connected and deaf.
 */
export function refusedSubscription(error: Error): boolean {
  if (!(error instanceof ErrorWithSubackPacket) || error.packet?.cmd !== 'suback') return false;
  return error.packet.granted.some(refusesFilter);
}

const DEFAULT_PORTS: Record<string, number> = { 'mqtt:': 1883, 'mqtts:': 8883, 'ws:': 80, 'wss:': 443 };

/**
 * The nodes of one broker cluster a client may use: the one it is configured with first, then the
 * failover nodes, each taken in turn after a connection is lost or refused, so a node that is gone
 * (crashed, or holding its subscriptions while it recovers) does not keep the client off the cluster.
 * Every node has the same scheme (and, over WebSockets, the same path): they are one service.
 */
export class BrokerNodes {
  private readonly urls: URL[];
  private at = 0;

  constructor(
    private readonly url: string,
    failover: readonly string[] = [],
  ) {
    this.urls = [url, ...failover].map((each) => new URL(each));
    const [first] = this.urls as [URL];
    for (const other of this.urls)
      if (other.protocol !== first.protocol || other.pathname !== first.pathname)
        throw new Error(
          `broker node ${other.host} is not ${first.protocol}//…${first.pathname} as the first one is`,
        );
    if (this.urls.length > MAX_BROKER_NODES) throw new Error(`more than ${MAX_BROKER_NODES} broker nodes`);
  }

  /** The URL to connect to first, as configured (with whatever it carries besides host and port). */
  get first(): string {
    return this.url;
  }

  /** The node the next connection goes to, as scheme://host:port (never credentials: for logs). */
  get current(): string {
    const url = this.urls[this.at] as URL;
    return `${url.protocol}//${url.host}`;
  }

  get count(): number {
    return this.urls.length;
  }

  /**
   * Points the client's next connection at the next node. The TLS server name is cleared, so that
   * mqtt.js names the new node and its certificate is checked against its own name.
   */
  moveOn(options: IClientOptions): void {
    if (this.urls.length < 2) return;
    this.at = (this.at + 1) % this.urls.length;
    const url = this.urls[this.at] as URL;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    options.host = host;
    options.hostname = host;
    options.port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
    delete options.servername;
  }
}
