import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../crypto/ed25519.js';
import { type CommandTrust, commandRefusal, MAX_COMMAND_LIFETIME_MS, signCommand } from './commands.js';
import { Command, parseMessage } from './messages.js';
import { keyRole } from './roster-issuer.js';

const NOW = Date.parse('2031-05-06T09:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
const key = generateKeyPair();
const trust: CommandTrust = { device: 'gate-01', school: 'school-1', role: keyRole([key]), now: NOW };

function door(fields: Record<string, unknown> = {}, keys = [key]) {
  return signCommand(
    {
      v: 1,
      id: 'c-1',
      name: 'door.open',
      args: { seconds: 5 },
      device: 'gate-01',
      school: 'school-1',
      issuedAt: at(-1000),
      expiresAt: at(60_000),
      ...fields,
    } as Parameters<typeof signCommand>[0],
    keys,
  );
}

/** What a device makes of a message as it arrives: parsed, then checked as received. */
function judge(message: unknown, as: CommandTrust = trust) {
  const parsed = parseMessage(Command, Buffer.from(JSON.stringify(message)));
  if (!parsed.ok) throw new Error(parsed.error);
  return commandRefusal(parsed.raw, parsed.value, as);
}

describe('signed commands', () => {
  it('lets a device run one signed by its command key, for it, in time', () => {
    expect(judge(door())).toBeUndefined();
  });

  it('refuses one unsigned, signed by another key, or altered after signing', () => {
    const { signatures: _none, ...unsigned } = door();
    expect(judge(unsigned)?.reason).toBe('the command is not signed');
    expect(judge(door({}, [generateKeyPair()]))?.reason).toMatch(/0 valid signature/);
    expect(judge({ ...door(), args: { seconds: 600 } })?.reason).toMatch(/0 valid signature/);
    expect(judge({ ...door(), extra: 'added by a broker' })?.reason).toMatch(/0 valid signature/);
    expect(judge(door(), { ...trust, role: undefined })?.reason).toMatch(/names no command key/);
  });

  it('refuses one for another device or school, whoever signed it', () => {
    expect(judge(door({ device: 'gate-02' }))?.reason).toBe('the command is for school-1/gate-02');
    expect(judge(door({ school: 'school-2' }))?.reason).toBe('the command is for school-2/gate-01');
  });

  it('refuses one expired, or made to live longer than an hour', () => {
    expect(judge(door({ expiresAt: at(-1) }))).toEqual({
      status: 'expired',
      reason: `the command expired at ${at(-1)}`,
    });
    expect(judge(door({ expiresAt: at(MAX_COMMAND_LIFETIME_MS) }))?.reason).toMatch(/longer than an hour/);
    const { issuedAt: _when, ...undated } = door();
    expect(judge(undated)?.status).toBe('refused');
  });
});
