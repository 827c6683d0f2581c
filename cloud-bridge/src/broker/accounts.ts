import type { Logger } from 'pino';

/** A device's identity in the broker, as enrollment makes it. */
export interface DeviceAccount {
  device: string;
  school: string;
  /** The broker password the device is told once; an implementation keeps at most a hash of it. */
  password: string;
}

/**
 * Device identities and their topic permissions (see deviceTopics) in the broker devices connect to.
 * Enrollment provisions, revocation removes; `remove` resolves once the device is cut off on every
 * node, so an answered revocation means the device is out. `reconcile` brings the broker in line with
 * the devices enrolled and not revoked, at start, so a change made while the bridge was down holds.
 */
export interface DeviceAccounts {
  readonly kind: string;
  /** Why this broker cannot carry a device or school of this name (its topics cannot hold it), or nothing. */
  refusal(name: string): string | undefined;
  provision(account: DeviceAccount): Promise<void>;
  remove(device: string): Promise<void>;
  reconcile(active: { device: string; school: string }[]): Promise<void>;
}

/**
 * An external broker whose accounts the bridge does not manage (a test Mosquitto that admits anyone,
 * or a broker a district administers itself): nothing is provisioned, and a revoked device is cut off
 * only by its signed batches no longer being accepted.
 */
export function unmanagedAccounts(logger: Logger): DeviceAccounts {
  logger.warn(
    'device broker accounts are not managed by this bridge: the external broker must admit and cut off devices itself',
  );
  return {
    kind: 'unmanaged',
    refusal: () => undefined,
    provision: async () => undefined,
    remove: async () => undefined,
    reconcile: async () => undefined,
  };
}
