import type { Duty } from '../leases/index.js';

/**
 * The devices divided among bridge instances that all receive every device's messages (NATS 2.9's
 * MQTT listener has no shared subscriptions): a device belongs to partition hash(id) mod `count`,
 * each partition is a duty held under a lease, and an instance takes the messages of the devices
 * of the partitions it holds. One device's batches thus go to one instance at a time, in order.
 */
export class DevicePartitions {
  private readonly held = new Set<number>();

  constructor(readonly count: number) {}

  /** FNV-1a over the id's UTF-16 units: stable across instances and versions, cheap per message. */
  of(device: string): number {
    let hash = 0x811c9dc5;
    for (let i = 0; i < device.length; i += 1) hash = Math.imul(hash ^ device.charCodeAt(i), 0x01000193);
    return (hash >>> 0) % this.count;
  }

  owns(device: string): boolean {
    return this.held.has(this.of(device));
  }

  /** One duty per partition, `ingest/<n>`: holding it means taking its devices' messages. */
  duties(): Duty[] {
    return Array.from({ length: this.count }, (_, partition) => ({
      name: `ingest/${partition}`,
      start: () => {
        this.held.add(partition);
      },
      stop: () => {
        this.held.delete(partition);
      },
    }));
  }
}
