import { describe, expect, it } from 'vitest';
import { filters, parseDeviceTopic, sharedFilter, topics, unsharedFilter } from './topics.js';

describe('shared subscriptions', () => {
  it('share a filter with a group, and say which filter a shared subscription stands for', () => {
    const shared = sharedFilter('educard-bridge', filters.allEvents);
    expect(shared).toBe('$share/educard-bridge/educard/v1/+/devices/+/events');
    expect(unsharedFilter(shared)).toBe(filters.allEvents);
    expect(sharedFilter(undefined, filters.allEvents)).toBe(filters.allEvents);
    expect(unsharedFilter(filters.allEvents)).toBe(filters.allEvents);
    expect(unsharedFilter('$share/g/educard-bridge/v1/live')).toBe('educard-bridge/v1/live');
  });
});

describe('device topics', () => {
  it("name a device's school, id and kind; a bridge's probe and other topics are no device's", () => {
    expect(parseDeviceTopic('educard/v1/school-1/devices/gate-1/events')).toEqual({
      school: 'school-1',
      device: 'gate-1',
      kind: 'events',
    });
    expect(parseDeviceTopic(topics.bridgeProbe('bridge-a'))).toBeUndefined();
    expect(parseDeviceTopic('educard/v1/school-1/devices/gate-1/secrets')).toBeUndefined();
    expect(parseDeviceTopic('educard/v2/school-1/devices/gate-1/events')).toBeUndefined();
  });
});
