/// <reference lib="dom" />
// The page functions below run in Chromium: they need the DOM's types.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
  terminalCredential,
} from '@educard/gateway';
import type { CardEntry, StationTap } from '@educard/terminal-sdk';
import { TerminalClient } from '@educard/terminal-sdk/terminal-client';
import { sampleCard, TestAuthority, validAround } from '@educard/terminal-sdk/testing';
import { launchChromium, until } from '../support/index.js';
import { atLeast, atMost, type BenchResult, info, median, percentile } from './report.js';

const quiet = createLogger('bench', { level: 'silent' });
const PAGE_TAPS = 200;
const CLASS_SIZE = 40;
const ROUNDS = 5;

/** A library or lab gateway with its terminal broker and pages, a roster of `cards`, on a temp dir. */
async function stationGateway(
  station: { id: string; type: string } & Record<string, unknown>,
  cards: CardEntry[],
  terminal: string,
) {
  const dir = await mkdtemp(join(tmpdir(), 'bench-station-'));
  const authority = new TestAuthority('school-1');
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  const credential = terminalCredential(terminal, [station.id]);
  const gateway = await Gateway.start({
    config: parseConfig({
      device: { id: 'bench-gw', school: 'school-1' },
      dataDir: dir,
      station,
      readers: { simulated: ['reader'], bindings: [{ pattern: 'reader', direction: 'in' }] },
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, terminals: [credential.entry] },
      pages: { host: '127.0.0.1', port: 0 },
    }),
    logger: quiet,
  });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(1, cards);
  await gateway.acceptRoster(roster.manifest, roster.body);
  return {
    gateway,
    password: credential.password,
    driver: gateway.readers as SimulatedReaderDriver,
    close: async () => {
      await gateway.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * From the card at the reader to the patron on the desk page, timed in the browser: the page's own
 * clock notes when the patron's name changes (a MutationObserver), against the epoch time of the tap.
 */
async function tapToPage(): Promise<number[]> {
  const patrons = [1, 2].map((n) =>
    sampleCard(n, { zones: ['library'], schedules: [], ...validAround(Date.now()) }),
  );
  const station = { type: 'library' as const, id: 'library-1', zone: 'library', debounceMs: 0 };
  const desk = await stationGateway(station, patrons, 'desk-1');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(
      `${desk.gateway.terminalPorts.pages}/desk.html?lang=en#terminal=desk-1&password=${desk.password}&station=library-1`,
    );
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="link"]')?.className.includes('connected'),
    );
    await page.evaluate(() => {
      const box = document.querySelector('[data-testid="patron"]') as HTMLElement;
      (window as unknown as { shown: number[] }).shown = [];
      new MutationObserver(() => {
        const name = document.querySelector('[data-testid="patron-name"]')?.textContent;
        if (name)
          (window as unknown as { shown: number[] }).shown.push(performance.timeOrigin + performance.now());
      }).observe(box, { subtree: true, childList: true, characterData: true });
    });
    const samples: number[] = [];
    for (let i = 0; i < PAGE_TAPS; i++) {
      const card = patrons[i % 2] as CardEntry;
      const before = await page.evaluate(() => (window as unknown as { shown: number[] }).shown.length);
      const tappedAt = performance.timeOrigin + performance.now();
      desk.driver.present('reader', { uid: card.credential.uid as string });
      const shownAt = await page.waitForFunction(
        (count) => {
          const shown = (window as unknown as { shown: number[] }).shown;
          return shown.length > count ? shown[count] : undefined;
        },
        before,
        { polling: 'raf' },
      );
      samples.push(((await shownAt.jsonValue()) as number) - tappedAt);
    }
    return samples;
  } finally {
    await browser.close();
    await desk.close();
  }
}

/** A class of 40 at the computer room's door, one tap after another: sign-ins a minute, and what is left over. */
async function classAtTheDoor(): Promise<{ perMinute: number; backlog: number; heard: number }> {
  const pupils = Array.from({ length: CLASS_SIZE }, (_, i) =>
    sampleCard(i + 1, { zones: ['lab'], schedules: [], ...validAround(Date.now()) }),
  );
  const seats = Array.from({ length: CLASS_SIZE }, (_, i) => ({ id: `S${String(i + 1).padStart(2, '0')}` }));
  const station = { type: 'lab' as const, id: 'lab-1', zone: 'lab', debounceMs: 0, seats, closing: '23:59' };
  const lab = await stationGateway(station, pupils, 'kiosk-1');
  const kiosk = await TerminalClient.connect({
    url: `mqtt://127.0.0.1:${lab.gateway.terminalPorts.tcp}`,
    terminal: 'kiosk-1',
    password: lab.password,
    station: 'lab-1',
  });
  const heard: StationTap[] = [];
  kiosk.onTap((tap) => {
    heard.push(tap);
  });
  try {
    const started = performance.now();
    for (const pupil of pupils) lab.driver.present('reader', { uid: pupil.credential.uid as string });
    await lab.gateway.journal.flush();
    await until(() => heard.length === CLASS_SIZE, {
      what: `the kiosk to hear all ${CLASS_SIZE} sign-ins`,
      timeoutMs: 60_000,
      everyMs: 5,
    });
    const minutes = (performance.now() - started) / 60_000;
    const stats = lab.gateway.journal.stats();
    return {
      perMinute: CLASS_SIZE / minutes,
      backlog: stats.lastSeq - stats.durableSeq,
      heard: heard.length,
    };
  } finally {
    await kiosk.close();
    await lab.close();
  }
}

export async function stationsBench(): Promise<BenchResult[]> {
  const page = await tapToPage();
  const rounds: Awaited<ReturnType<typeof classAtTheDoor>>[] = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await classAtTheDoor());
  const rates = rounds.map((r) => r.perMinute);
  return [
    atMost('stations.library.tap_to_page.p99_ms', percentile(page, 99), 'ms', 100),
    info('stations.library.tap_to_page.median_ms', median(page), 'ms'),
    atLeast('stations.lab.signins_per_min', Math.min(...rates), 'taps/min', 60),
    info('stations.lab.signins_per_min.median', median(rates), 'taps/min'),
    atMost('stations.lab.backlog_after_class', Math.max(...rounds.map((r) => r.backlog)), 'events', 0),
    atLeast('stations.lab.taps_heard_by_kiosk', Math.min(...rounds.map((r) => r.heard)), 'taps', CLASS_SIZE),
  ];
}
