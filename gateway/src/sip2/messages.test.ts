import { describe, expect, it } from 'vitest';
import { readCharge, readPatron, readStatus } from './answers.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { Sip2Config } from './config.js';
import { formatSipDate } from './dates.js';
import {
  checkinMessage,
  checkoutMessage,
  loginMessage,
  type MessageContext,
  patronInformationMessage,
} from './messages.js';

// The requests and answers alone: built and read as plain data, no socket, no library system.

const AT = Date.UTC(2024, 4, 6, 9, 30, 0);
const config = Sip2Config.parse({
  host: 'ils.school.example',
  user: 'sc',
  password: 'secret',
  institution: 'MAIN',
  location: 'desk-1',
  timeZone: 'UTC',
});
const context: MessageContext = { config, date: (at) => formatSipDate(at ?? AT, 'UTC') };
const wire = (message: Parameters<typeof encodeMessage>[0]) =>
  encodeMessage(message, { errorDetection: false });

describe('SIP2 requests', () => {
  it('logs in with the user, the password and the location code', () => {
    expect(wire(loginMessage(config))).toBe('9300CNsc|COsecret|CPdesk-1|');
  });

  it('checks out as the standard lists it: a no-block checkout carries its own due date', () => {
    const online = checkoutMessage(context, { patronId: 'p1', itemId: 'b1' });
    expect(wire(online)).toBe(`11NN20240506   Z093000${' '.repeat(18)}AOMAIN|AAp1|ABb1|AC|`);
    const offline = checkoutMessage(context, {
      patronId: 'p1',
      itemId: 'b1',
      noBlock: true,
      at: new Date(AT - 3_600_000),
      nbDueDate: new Date(AT + 14 * 86_400_000),
    });
    expect(wire(offline)).toBe('11NY20240506   Z08300020240520   Z093000AOMAIN|AAp1|ABb1|AC|');
  });

  it('returns an item at the desk with the return date it was taken', () => {
    const message = checkinMessage(context, { itemId: 'b1', noBlock: true, at: new Date(AT - 60_000) });
    expect(wire(message)).toBe('09Y20240506   Z09290020240506   Z092900APdesk-1|AOMAIN|ABb1|AC|');
  });

  it('asks patron information for the charged items only when told to', () => {
    expect(wire(patronInformationMessage(context, 'p1'))).toBe(
      `63000${'20240506   Z093000'}${' '.repeat(10)}AOMAIN|AAp1|`,
    );
    expect(wire(patronInformationMessage(context, 'p1', { list: 'charged' }))).toBe(
      `63000${'20240506   Z093000'}  Y       AOMAIN|AAp1|BP1|BQ9999|`,
    );
  });
});

describe('SIP2 answers', () => {
  it('reads a patron: the flags set, whether blocked, the counts and the charged items', () => {
    const reply = decodeMessage(
      `64Y   Y         00020240506   Z0930000001000000020000        AOMAIN|AAp1|AEAda Lovelace|CB0005|AUb1|AUb2|AFFines owed|AF |BLY|`,
    );
    const patron = readPatron(reply, 'p1');
    expect(patron).toMatchObject({
      patronId: 'p1',
      valid: true,
      name: 'Ada Lovelace',
      flags: ['chargePrivilegesDenied', 'cardReportedLost'],
      blocked: true,
      holdCount: 1,
      chargedCount: 2,
      overdueCount: 0,
      chargedLimit: 5,
      chargedItems: ['b1', 'b2'],
      screenMessages: ['Fines owed'],
    });
  });

  it('reads what the system supports from BX, and takes everything as supported without one', () => {
    const partial = readStatus(
      decodeMessage('98YYYNYN01003020240506   Z0930002.00AOMAIN|AMMain Library|BXYYYYYYYYYNNNNNNN|'),
      'UTC',
    );
    expect(partial.online).toBe(true);
    expect(partial.renewalPolicy).toBe(false);
    expect(partial.timeoutPeriod).toBe(10);
    expect(partial.dateTimeSync?.getTime()).toBe(AT);
    expect(partial.supports.patronInformation).toBe(true);
    expect(partial.supports.renew).toBe(false);
    const silent = readStatus(decodeMessage('98YYYNYN01003020240506   Z0930002.00AOMAIN|'), 'UTC');
    expect(Object.values(silent.supports).every(Boolean)).toBe(true);
  });

  it('reads a refused checkout with the system’s words and no due date', () => {
    const refused = readCharge(
      decodeMessage('120NNN20240506   Z093000AOMAIN|AAp2|ABb1|AJDune|AH|AFPatron has unpaid fines|'),
      'b1',
      'UTC',
    );
    expect(refused).toMatchObject({ ok: false, renewalOk: false, itemId: 'b1', title: 'Dune' });
    expect(refused.dueDate).toBeUndefined();
    expect(refused.screenMessages).toEqual(['Patron has unpaid fines']);
  });
});
