import { topics } from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { RosterKeyring } from '../roster/index.js';

export const RETAINED = { qos: 1 as const, retain: true };

/**
 * Every key set, on the district's topic: a venue holds no school roster, so it learns key rotations
 * here. Published before anything signed under the newest key.
 */
export function announceKeySets(client: MqttClient, keys: RosterKeyring): Promise<unknown> {
  return client.publishAsync(topics.districtKeySets(), JSON.stringify(keys.keySetsMessage), RETAINED);
}
