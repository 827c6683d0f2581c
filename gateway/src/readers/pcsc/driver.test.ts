import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../log/index.js';
import { MockPcscBinding, mockUidCard } from '../../testing/index.js';
import type { CardPresented } from '../types.js';
import { PcscReaderDriver } from './driver.js';

// The PC/SC driver against a scripted binding: hot-plug, card faults and pcscd going away and coming
// back, without a pcscd (test/readers runs the same driver against the real one).

const UID = '04A1B2C3D4E5F6';
let driver: PcscReaderDriver | undefined;

function start(binding: MockPcscBinding, options: { exchangeTimeoutMs?: number } = {}) {
  const events: { type: string; payload: unknown }[] = [];
  driver = new PcscReaderDriver({
    logger: createLogger('pcsc-test', { level: 'silent' }),
    binding: async () => binding,
    recoveryMs: 20,
    ...options,
  });
  for (const type of ['reader-added', 'reader-removed', 'card', 'card-removed', 'item', 'error'] as const)
    driver.events.on(type, (payload) => events.push({ type, payload }));
  const of = (type: string) => events.filter((e) => e.type === type).map((e) => e.payload);
  return { driver, events, of, ready: driver.start() };
}

afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

describe('the PC/SC driver with a scripted binding', () => {
  it('lists readers plugged in before start, and follows readers plugged in and out at run time', async () => {
    const binding = new MockPcscBinding(['ACS ACR1252 00 00']);
    const { driver, of, ready } = start(binding);
    await ready;
    await expect.poll(() => of('reader-added')).toEqual([{ reader: 'ACS ACR1252 00 00' }]);
    binding.attach('ACS ACR1252 01 00');
    binding.detach('ACS ACR1252 00 00');
    expect(of('reader-added')).toHaveLength(2);
    expect(of('reader-removed')).toEqual([{ reader: 'ACS ACR1252 00 00' }]);
    expect(driver.readers().map((r) => r.name)).toEqual(['ACS ACR1252 01 00']);
  });

  it('reads a UID card, marks the reader while the card is there, and reports its removal', async () => {
    const binding = new MockPcscBinding(['desk-in']);
    const { driver, of, ready } = start(binding);
    await ready;
    await expect.poll(() => of('reader-added')).toHaveLength(1);
    binding.tap('desk-in', mockUidCard(UID));
    await expect.poll(() => of('card')).toHaveLength(1);
    expect(of('card')[0]).toMatchObject({ reader: 'desk-in', uid: UID });
    expect((of('card')[0] as CardPresented).failure).toBeUndefined();
    expect(driver.readers()[0]).toMatchObject({ cardPresent: true });
    binding.lift('desk-in');
    expect(of('card-removed')).toEqual([{ reader: 'desk-in' }]);
    expect(driver.readers()[0]).toMatchObject({ cardPresent: false });
  });

  it.each([
    ['garbage', 'card-unreadable'],
    ['removed', 'card-removed'],
    ['silent', 'card-unreadable'],
  ] as const)(
    'reports a card that is %s as %s, and reads the next card on that reader',
    async (fault, failure) => {
      const binding = new MockPcscBinding(['desk-in']);
      const { driver, of, ready } = start(binding, { exchangeTimeoutMs: 50 });
      await ready;
      await expect.poll(() => of('reader-added')).toHaveLength(1);
      binding.tap('desk-in', mockUidCard(UID, fault));
      await expect.poll(() => of('card')).toHaveLength(1);
      expect(of('card')[0]).toMatchObject({ reader: 'desk-in', failure });
      expect(driver.readers()[0]?.lastError).toBeTruthy();
      binding.lift('desk-in');
      binding.tap('desk-in', mockUidCard(UID));
      await expect.poll(() => of('card')).toHaveLength(2);
      expect(of('card')[1]).toMatchObject({ uid: UID });
      expect(driver.readers()[0]?.lastError).toBeUndefined();
    },
  );

  it('drops its readers when pcscd goes, says so once, and makes a new binding that reads again once it is back', async () => {
    const binding = new MockPcscBinding(['desk-in']);
    const { driver, of, ready } = start(binding);
    await ready;
    await expect.poll(() => of('reader-added')).toHaveLength(1);
    expect(binding.created).toBe(1);

    binding.serviceDown();
    await expect.poll(() => of('reader-removed')).toEqual([{ reader: 'desk-in' }]);
    await expect.poll(() => binding.created).toBeGreaterThan(2);
    expect(of('error')).toEqual([{ message: 'PC/SC: PC/SC service not running' }]);
    expect(driver.readers()).toEqual([
      { name: 'pcsc', connected: false, cardPresent: false, lastError: 'PC/SC: PC/SC service not running' },
    ]);

    binding.serviceUp();
    await expect.poll(() => of('reader-added')).toHaveLength(2);
    // The binding that saw the service go is deaf: only the new one hears the next card.
    expect(binding.live).toBe(1);
    binding.tap('desk-in', mockUidCard(UID));
    await expect.poll(() => of('card')).toHaveLength(1);
    expect(of('card')[0]).toMatchObject({ reader: 'desk-in', uid: UID });
    expect(driver.readers()[0]).toMatchObject({ name: 'desk-in', connected: true });
  });

  it('starts without pcscd, and picks the readers up when it comes', async () => {
    const binding = new MockPcscBinding(['desk-in']);
    binding.serviceDown();
    const { of, ready } = start(binding);
    await ready;
    await expect.poll(() => of('error')).toHaveLength(1);
    binding.serviceUp();
    await expect.poll(() => of('reader-added')).toEqual([{ reader: 'desk-in' }]);
  });

  it('says what to install when the binding cannot be loaded', async () => {
    driver = new PcscReaderDriver({
      logger: createLogger('pcsc-test', { level: 'silent' }),
      binding: () => Promise.reject(new Error("Cannot find package 'smartcard'")),
    });
    const errors: unknown[] = [];
    driver.events.on('error', (error) => errors.push(error));
    await driver.start();
    expect(errors).toEqual([
      { message: expect.stringMatching(/install libpcsclite-dev and run npm rebuild smartcard/) },
    ]);
  });

  it('stops its binding at stop, and hears nothing after', async () => {
    const binding = new MockPcscBinding(['desk-in']);
    const { driver, of, ready } = start(binding);
    await ready;
    await expect.poll(() => of('reader-added')).toHaveLength(1);
    await driver.stop();
    expect(binding.live).toBe(0);
    binding.tap('desk-in', mockUidCard(UID));
    expect(of('card')).toEqual([]);
  });
});
