import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CardEntry,
  type CatalogueItem,
  type CatalogueRules,
  issueCatalogue,
} from '@educard/terminal-sdk';
import { TestAuthority } from '@educard/terminal-sdk/testing';
import type { Logger } from 'pino';
import { CatalogueStore, trustedKeySets } from '../../catalogue/index.js';
import { Journal } from '../../journal/index.js';
import { RosterStore } from '../../roster/index.js';

export interface LibraryStores {
  /** What signed the roster and the catalogue: a test issues later versions with it. */
  authority: TestAuthority;
  roster: RosterStore;
  catalogue: CatalogueStore;
  journal: Journal;
}

/**
 * What a library desk stands on, for tests: in `dir`, a roster of `cards` and a catalogue of `items`
 * with `rules`, both signed by a test authority and verified as a gateway takes them, and an empty
 * journal.
 */
export async function openLibraryStores(options: {
  dir: string;
  device: string;
  cards: CardEntry[];
  items: CatalogueItem[];
  rules: CatalogueRules;
  now: () => number;
  logger: Logger;
}): Promise<LibraryStores> {
  const { dir, device, logger, now } = options;
  const authority = new TestAuthority('school-1', { now });
  const rosterDir = join(dir, 'roster');
  await mkdir(rosterDir, { recursive: true });
  await RosterStore.writeAnchor(rosterDir, authority.anchor());
  const roster = await RosterStore.open({ dir: rosterDir, school: 'school-1', device, logger, now });
  await roster.acceptKeySet(authority.keySet());
  // Valid for two months from the test's start: the desk tests move their clock weeks ahead.
  const issued = authority.snapshot(1, options.cards, {
    expiresAt: new Date(now() + 60 * 86_400_000).toISOString(),
  });
  await roster.accept(issued.manifest, issued.body);
  const catalogue = await CatalogueStore.open({
    dir: join(dir, 'catalogue'),
    school: 'school-1',
    logger,
    keySets: () => trustedKeySets(rosterDir),
    now,
  });
  const signed = issueCatalogue(
    {
      kind: 'catalogue',
      school: 'school-1',
      version: 1,
      issuedAt: new Date(now() - 86_400_000).toISOString(),
      rules: options.rules,
      items: options.items,
    },
    {
      expiresAt: new Date(now() + 60 * 86_400_000).toISOString(),
      keySetVersion: 1,
      signers: authority.rosterKeys,
    },
  );
  await catalogue.accept(signed.manifest, signed.body);
  await mkdir(join(dir, 'journal'));
  const journal = await Journal.open({ dir: join(dir, 'journal'), device, logger });
  return { authority, roster, catalogue, journal };
}
