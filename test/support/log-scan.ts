/** What the fixtures of a run hold that must never reach a log line. */
export interface PersonalFixtures {
  cardIds: string[];
  uids: string[];
  names: string[];
  studentNumbers: string[];
}

export interface Finding {
  line: number;
  what: 'card id' | 'UID' | 'name' | 'student-status number';
  found: string;
  /** The line's message, to tell where it was logged. */
  msg: string;
}

/** A student-status number anywhere in a line: G, L or J and 18 characters (the last may be X). */
const STUDENT_NUMBER = /[GLJ]\d{17}[\dX]/g;

/**
 * Every piece of personal data in log text: a full card id, a card UID (in either case), a name of the
 * fixtures, or any student-status number, whoever it belongs to. A masked card id (`E00****23`) passes.
 */
export function personalDataIn(log: string, fixtures: PersonalFixtures): Finding[] {
  const findings: Finding[] = [];
  const lines = log.split('\n');
  for (const [index, text] of lines.entries()) {
    const line = index + 1;
    const upper = text.toUpperCase();
    const msg = /"msg":"([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 80);
    const found = (what: Finding['what'], value: string) => findings.push({ line, what, found: value, msg });
    for (const cardId of fixtures.cardIds) if (text.includes(cardId)) found('card id', cardId);
    for (const uid of fixtures.uids) if (upper.includes(uid.toUpperCase())) found('UID', uid);
    for (const name of fixtures.names) if (text.includes(name)) found('name', name);
    for (const match of text.matchAll(STUDENT_NUMBER)) found('student-status number', match[0]);
  }
  return findings;
}
