import { expect, it } from 'vitest';
import { DevicePartitions } from './partitions.js';

it('spreads devices evenly over the partitions, the same way in every instance', () => {
  const partitions = new DevicePartitions(16);
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 4000; i += 1) {
    const partition = partitions.of(`gate-${i}`);
    counts[partition] = (counts[partition] ?? 0) + 1;
  }
  // 250 each on average; a hash that clusters (or ignores the digits) leaves partitions empty or double.
  expect(Math.min(...counts)).toBeGreaterThan(175);
  expect(Math.max(...counts)).toBeLessThan(325);
  expect(new DevicePartitions(16).of('gate-17')).toBe(partitions.of('gate-17'));
});

it('takes a device’s messages only while holding its partition', async () => {
  const partitions = new DevicePartitions(4);
  const duty = partitions.duties()[partitions.of('gate-1')];
  expect(duty?.name).toBe(`ingest/${partitions.of('gate-1')}`);
  expect(partitions.owns('gate-1')).toBe(false);
  await duty?.start();
  expect(partitions.owns('gate-1')).toBe(true);
  await duty?.stop();
  expect(partitions.owns('gate-1')).toBe(false);
});
