import { sampleCard, validAround } from '@educard/terminal-sdk/testing';

export const ROSTER_CSV_HEADER =
  'card_id,credential,uid,public_key,person_id,role,school,grade,class,status,valid_from,valid_until,zones,schedules,display_name';

/**
 * One row of a roster import (docs/api.md): the sample card `n` as a school's office would list it, valid
 * around today by the real clock, which the bridges and gateways these rows go to run on.
 */
export function rosterCsvRow(n: number, overrides: Partial<Record<string, string>> = {}): string {
  const card = sampleCard(n, validAround(Date.now()));
  const values: Record<string, string> = {
    card_id: card.cardId,
    credential: 'uid',
    uid: card.credential.uid as string,
    public_key: '',
    person_id: card.personId,
    role: 'student',
    school: 'school-1',
    grade: '3',
    class: '2',
    status: 'active',
    valid_from: card.validFrom,
    valid_until: card.validUntil,
    zones: 'main-gate;library',
    schedules: '',
    display_name: `Pupil ${n}`,
    ...overrides,
  };
  return ROSTER_CSV_HEADER.split(',')
    .map((column) => values[column])
    .join(',');
}

export const rosterCsv = (...rows: string[]) => [ROSTER_CSV_HEADER, ...rows].join('\n');
