import {
  encodeHotlist,
  generateKeyPair,
  HotlistTable,
  hotlistEntries,
  issueCardCertificate,
  keyIdOf,
  parseCardCertificate,
} from '@educard/terminal-sdk';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  SAMPLE_HOTLIST_KEY,
  SAMPLE_MONDAY,
  sampleCardProof,
  sampleUid,
} from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import type { HotlistView } from '../hotlist/index.js';
import { type CertifiedCardRules, type CertifiedCardTrust, checkCertifiedCard } from './index.js';

// The rulebook of a venue's card check: a card proves itself with its certificate alone; the clock is
// the sample fixtures' (a Monday morning of the 2026-27 school year), and every date comes from it.

const NOW = SAMPLE_MONDAY;
const DAY = 86_400_000;
const YEAR = 365 * DAY;
const A = keyIdOf(SAMPLE_CARD_ISSUER.publicKey);
const B = keyIdOf(SAMPLE_CARD_ISSUER_B.publicKey);
const card = (n: number) => `E${String(n).padStart(9, '0')}`;

function hotlist(
  cards: { n: number; status: 'lost' | 'cancelled' | 'suspended' }[],
  expiresAt = NOW + DAY,
): HotlistView {
  const body = encodeHotlist(
    { kind: 'snapshot', version: 7, hashKey: SAMPLE_HOTLIST_KEY },
    hotlistEntries(
      SAMPLE_HOTLIST_KEY,
      cards.map(({ n, status }) => ({ cardNumber: card(n), status })),
    ),
  );
  return { table: HotlistTable.fromSnapshot(body), version: 7, issuedAt: NOW - DAY, expiresAt };
}

const trust = (overrides: Partial<CertifiedCardTrust> = {}): CertifiedCardTrust => ({
  issuers: new Map([
    [A, SAMPLE_CARD_ISSUER.publicKey],
    [B, SAMPLE_CARD_ISSUER_B.publicKey],
  ]),
  hotlist: hotlist([
    { n: 13, status: 'lost' },
    { n: 14, status: 'cancelled' },
  ]),
  genuineUid: () => false,
  ...overrides,
});
const RULES: CertifiedCardRules = {
  timeZone: 'Asia/Shanghai',
  hotlistGraceMs: DAY,
  clockUntrusted: 'ignore-time',
};
const trusted = (now = NOW) => ({ now, trusted: true });
const cpu = (n: number, options: Parameters<typeof sampleCardProof>[1] = {}) => ({
  uid: sampleUid(n),
  proof: sampleCardProof(n, options),
});

describe("a venue's card check", () => {
  it('admits a genuine card of either issuer the key set names, with its issuer', () => {
    expect(checkCertifiedCard(cpu(1), trust(), trusted(), RULES)).toEqual({
      decision: 'grant',
      reason: 'ok',
      flags: [],
      cardId: card(1),
      credential: 'edu-cpu',
      issuer: A,
    });
    expect(
      checkCertifiedCard(cpu(500_001, { issuer: SAMPLE_CARD_ISSUER_B }), trust(), trusted(), RULES),
    ).toMatchObject({
      decision: 'grant',
      issuer: B,
    });
  });

  it('refuses a card on the hotlist with its status', () => {
    expect(checkCertifiedCard(cpu(13), trust(), trusted(), RULES).reason).toBe('lost');
    expect(checkCertifiedCard(cpu(14), trust(), trusted(), RULES).reason).toBe('cancelled');
  });

  it('refuses a certificate by an issuer the key set does not name, and one the named issuer did not sign', () => {
    const stranger = generateKeyPair();
    expect(checkCertifiedCard(cpu(2, { issuer: stranger }), trust(), trusted(), RULES)).toMatchObject({
      reason: 'unknown-issuer',
      issuer: keyIdOf(stranger.publicKey),
    });
    const onlyA = trust({ issuers: new Map([[A, SAMPLE_CARD_ISSUER.publicKey]]) });
    expect(checkCertifiedCard(cpu(3, { issuer: SAMPLE_CARD_ISSUER_B }), onlyA, trusted(), RULES).reason).toBe(
      'unknown-issuer',
    );
    // A certificate that names issuer A but carries another key's signature: forged.
    const genuine = cpu(4);
    const certificate = genuine.proof.certificate as NonNullable<typeof genuine.proof.certificate>;
    const forged = {
      ...genuine,
      proof: { ...genuine.proof, certificate: { ...certificate, issuerSignature: new Uint8Array(64) } },
    };
    expect(checkCertifiedCard(forged, trust(), trusted(), RULES).reason).toBe('card-auth-failed');
  });

  it("refuses a card that cannot sign the tap's challenge with its certificate's key", () => {
    const replayed = cpu(5);
    replayed.proof.challenge = new Uint8Array(16).fill(0xaa);
    expect(checkCertifiedCard(replayed, trust(), trusted(), RULES).reason).toBe('card-auth-failed');
    // A real card's certificate presented by a clone holding another key.
    const clone = cpu(6);
    const other = sampleCardProof(7, { challenge: clone.proof.challenge });
    expect(
      checkCertifiedCard(
        { ...clone, proof: { ...clone.proof, signature: other.signature } },
        trust(),
        trusted(),
        RULES,
      ).reason,
    ).toBe('card-auth-failed');
  });

  it('reckons a certificate by its days in the venue’s time zone', () => {
    // Issued six years before: its five school years are over.
    expect(checkCertifiedCard(cpu(8, { at: NOW - 6 * YEAR }), trust(), trusted(), RULES).reason).toBe(
      'expired',
    );
    expect(checkCertifiedCard(cpu(8, { at: NOW + YEAR }), trust(), trusted(), RULES).reason).toBe(
      'not-yet-valid',
    );
    // The last day of validity ends at midnight in Shanghai: 16:30 UTC that day is already the next day there.
    const certificate = issueCardCertificate({
      cardNumber: card(9),
      publicKey: (sampleCardProof(9).certificate as { publicKey: Uint8Array }).publicKey,
      issuer: SAMPLE_CARD_ISSUER,
      notBefore: '2026-09-01',
      notAfter: '2026-11-23',
    });
    const lastDay = cpu(9);
    lastDay.proof.certificate = parseCardCertificate(certificate);
    const evening = Date.parse('2026-11-23T15:59:00Z');
    expect(checkCertifiedCard(lastDay, trust(), trusted(evening), RULES).reason).toBe('ok');
    expect(checkCertifiedCard(lastDay, trust(), trusted(evening + 2 * 60_000), RULES).reason).toBe('expired');
  });

  it('refuses a UID-only card with its own reason, and the UID of a genuine card as a copy', () => {
    expect(checkCertifiedCard({ uid: sampleUid(20) }, trust(), trusted(), RULES)).toEqual({
      decision: 'deny',
      reason: 'uid-only-card',
      flags: [],
      cardId: sampleUid(20),
      credential: 'uid',
    });
    const seen = trust({ genuineUid: (uid) => uid === sampleUid(1) });
    expect(checkCertifiedCard({ uid: sampleUid(1) }, seen, trusted(), RULES).reason).toBe('card-auth-failed');
    expect(
      checkCertifiedCard({ uid: sampleUid(1), failure: 'card-removed' }, seen, trusted(), RULES).reason,
    ).toBe('card-removed');
  });

  it('refuses everyone without a hotlist, and once the one in force is stale past its grace', () => {
    expect(checkCertifiedCard(cpu(1), trust({ hotlist: undefined }), trusted(), RULES).reason).toBe(
      'no-hotlist',
    );
    const old = trust({ hotlist: hotlist([{ n: 13, status: 'lost' }], NOW - DAY / 2) });
    expect(checkCertifiedCard(cpu(1), old, trusted(), RULES)).toMatchObject({
      reason: 'ok',
      flags: ['hotlist-grace'],
    });
    expect(checkCertifiedCard(cpu(13), old, trusted(), RULES).reason).toBe('lost');
    const stale = trust({ hotlist: hotlist([], NOW - 2 * DAY) });
    expect(checkCertifiedCard(cpu(1), stale, trusted(), RULES).reason).toBe('hotlist-stale');
  });

  it('with a clock it cannot trust, refuses everyone or checks what needs no time, as configured', () => {
    const untrusted = { now: NOW - 10 * YEAR, trusted: false };
    expect(
      checkCertifiedCard(cpu(1), trust(), untrusted, { ...RULES, clockUntrusted: 'deny-all' }).reason,
    ).toBe('clock-untrusted');
    expect(checkCertifiedCard(cpu(8, { at: NOW - 6 * YEAR }), trust(), untrusted, RULES)).toMatchObject({
      reason: 'ok',
      flags: ['clock-fallback'],
    });
    expect(checkCertifiedCard(cpu(13), trust(), untrusted, RULES).reason).toBe('lost');
    expect(checkCertifiedCard(cpu(2, { issuer: generateKeyPair() }), trust(), untrusted, RULES).reason).toBe(
      'unknown-issuer',
    );
  });
});
