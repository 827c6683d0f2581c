import { describe, expect, it } from 'vitest';
import { SerialQueue } from './index.js';

describe('SerialQueue', () => {
  it('runs tasks one after another, and a failure neither stops the next nor leaks into it', async () => {
    const queue = new SerialQueue();
    const order: string[] = [];
    const slow = queue.run(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('slow');
      return 1;
    });
    const failing = queue.run(async () => {
      order.push('failing');
      throw new Error('refused');
    });
    const fast = queue.run(async () => {
      order.push('fast');
      return 3;
    });
    await expect(slow).resolves.toBe(1);
    await expect(failing).rejects.toThrow('refused');
    await expect(fast).resolves.toBe(3);
    await queue.idle();
    expect(order).toEqual(['slow', 'failing', 'fast']);
  });
});
