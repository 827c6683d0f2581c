import { sampleCard } from '@educard/terminal-sdk/testing';

export const ROSTER_CSV_HEADER =
  'card_id,credential,uid,public_key,person_id,role,school,grade,class,status,valid_from,valid_until,zones,schedules,display_name';

/** One row of a roster import (docs/api.md): the sample card `n` as a school's office would list it. */
export function rosterCsvRow(n: number, overrides: Partial<Record<string, string>> = {}): string {
  const card = sampleCard(n);
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
    valid_from: '2026-09-01T00:00:00+08:00',
    valid_until: '2027-07-31T23:59:59+08:00',
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
