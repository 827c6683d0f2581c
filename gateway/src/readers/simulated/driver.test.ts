import { Readable } from 'node:stream';
import { cardAuthMessage, ed25519, toBase64Url } from '@educard/terminal-sdk';
import { sampleCardSeed } from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../log/index.js';
import { type CardPresented, playScript, SimulatedReaderDriver } from '../index.js';

const logger = createLogger('readers-test', { level: 'silent' });

async function started(names = ['sim-in', 'sim-out']) {
  const driver = new SimulatedReaderDriver(names, logger);
  const seen: string[] = [];
  const cards: CardPresented[] = [];
  driver.events.on('reader-added', ({ reader }) => seen.push(`added ${reader}`));
  driver.events.on('reader-removed', ({ reader }) => seen.push(`removed ${reader}`));
  driver.events.on('card', (card) => {
    cards.push(card);
    seen.push(`card ${card.reader} ${card.uid}`);
  });
  driver.events.on('card-removed', ({ reader }) => seen.push(`gone ${reader}`));
  await driver.start();
  return { driver, seen, cards };
}

describe('simulated readers', () => {
  it('reports readers at start, cards presented and removed, and hot-plug', async () => {
    const { driver, seen } = await started();
    driver.present('sim-in', { uid: '04A1B2C3' });
    driver.remove('sim-in');
    driver.unplug('sim-out');
    driver.plug('sim-extra');
    expect(seen).toEqual([
      'added sim-in',
      'added sim-out',
      'card sim-in 04A1B2C3',
      'gone sim-in',
      'removed sim-out',
      'added sim-extra',
    ]);
    expect(driver.readers().map((r) => r.name)).toEqual(['sim-in', 'sim-extra']);
  });

  it('signs a fresh challenge for a CPU card, different on every tap', async () => {
    const { driver, cards } = await started();
    const seed = sampleCardSeed(7);
    const publicKey = ed25519.keyPairFromSeed(seed).publicKey;
    for (let i = 0; i < 2; i++) {
      driver.present('sim-in', { uid: '04A1B2C3', cpu: { cardNumber: 'E7', seed: toBase64Url(seed) } });
    }
    const [first, second] = cards.map((c) => c.proof);
    if (!first || !second) throw new Error('no proof');
    expect(Buffer.from(first.challenge).equals(Buffer.from(second.challenge))).toBe(false);
    expect(ed25519.verify(cardAuthMessage(first.challenge, 'E7'), first.signature, publicKey)).toBe(true);
  });

  it('plays its faults: garbage, removal mid-exchange, a wrong key', async () => {
    const { driver, cards } = await started();
    const cpu = { cardNumber: 'E7', seed: toBase64Url(sampleCardSeed(7)) };
    driver.present('sim-in', { uid: '04A1B2C3', cpu, fault: 'garbage' });
    driver.present('sim-in', { uid: '04A1B2C3', cpu, fault: 'removed-mid-exchange' });
    driver.present('sim-in', { uid: '04A1B2C3', cpu, fault: 'wrong-key' });
    expect(cards.map((c) => c.failure)).toEqual(['card-unreadable', 'card-removed', undefined]);
    const proof = cards[2]?.proof;
    if (!proof) throw new Error('no proof');
    const key = ed25519.keyPairFromSeed(sampleCardSeed(7)).publicKey;
    expect(ed25519.verify(cardAuthMessage(proof.challenge, 'E7'), proof.signature, key)).toBe(false);
  });

  it('refuses a card on a reader that is not plugged in', async () => {
    const { driver } = await started();
    expect(() => driver.present('nowhere', { uid: '04A1B2C3' })).toThrow(
      /no simulated reader named "nowhere"/,
    );
  });

  it('plays a script, skipping bad lines with a log line and going on', async () => {
    const lines: string[] = [];
    const scriptLogger = createLogger('script', {
      destination: { write: (line: string) => lines.push(line) } as never,
    });
    const { driver, seen } = await started();
    const script = [
      '# a comment',
      '{"action":"tap","reader":"sim-in","card":{"uid":"04A1B2C3"},"holdMs":1}',
      'not json',
      '{"action":"present","reader":"sim-in"}',
      '{"action":"present","reader":"nowhere","card":{"uid":"04A1B2C3"}}',
      '{"action":"wait","ms":1}',
      '{"action":"present","reader":"sim-out","card":{"uid":"04D4E5F6"}}',
    ].join('\n');
    const played = await playScript(driver, Readable.from([script]), scriptLogger);
    expect(played).toBe(3);
    expect(seen.slice(2)).toEqual(['card sim-in 04A1B2C3', 'gone sim-in', 'card sim-out 04D4E5F6']);
    expect(lines.filter((l) => l.includes('skipped')).map((l) => JSON.parse(l).line)).toEqual([3, 4, 5]);
  });
});
