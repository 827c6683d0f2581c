import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { GateActuators, IoConfig, type RecordingIO, recordingIoFor } from './index.js';

const PINS = { relay: 4, greenLed: 5, redLed: 6, buzzer: 7, doorContact: 8, exitButton: 9 };
const logger = createLogger('io-test', { level: 'silent' });
let gate: GateActuators | undefined;

async function startGate(overrides: Record<string, unknown> = {}) {
  const config = IoConfig.parse({
    pins: PINS,
    relay: { pulseMs: 150 },
    door: { heldOpenMs: 1000, graceMs: 100 },
    ...overrides,
  });
  const io = recordingIoFor(config);
  gate = new GateActuators({ config, logger, io });
  const events: string[] = [];
  for (const name of ['door-forced', 'door-held-open', 'door-closed', 'exit-request'] as const) {
    gate.events.on(name, () => events.push(name));
  }
  await gate.start();
  return { io, gate, events, mark: io.writes.length };
}

/** johnny-five debounces button input by 7 ms; a real contact bounces for longer. */
async function setInput(io: RecordingIO, pin: number, value: 0 | 1) {
  io.setInput(pin, value);
  await sleep(30);
}

const values = (io: RecordingIO, pin: number, since: number) => io.writesTo(pin, since).map((w) => w.value);

afterEach(async () => {
  await gate?.stop();
  gate = undefined;
});

describe('gate actuators on the recording IO plugin', () => {
  it('grant: the NO relay closes (HIGH) then opens after the pulse, green LED on then off, one beep', async () => {
    const { io, gate, mark } = await startGate();
    gate.grant();
    expect(values(io, PINS.relay, mark)).toEqual([1]);
    expect(values(io, PINS.greenLed, mark)).toEqual([1]);
    await sleep(300);
    expect(values(io, PINS.relay, mark)).toEqual([1, 0]);
    expect(values(io, PINS.greenLed, mark)).toEqual([1, 0]);
    expect(values(io, PINS.buzzer, mark)).toEqual([1, 0]);
    expect(values(io, PINS.redLed, mark)).toEqual([]);
  });

  it('grant on an NC relay writes the inverse', async () => {
    const { io, gate, mark } = await startGate({ relay: { type: 'NC', pulseMs: 150 } });
    gate.grant();
    await sleep(250);
    expect(values(io, PINS.relay, mark)).toEqual([0, 1]);
  });

  it('deny: red LED on, then off, and three beeps; the relay stays open', async () => {
    const { io, gate, mark } = await startGate();
    gate.deny();
    await sleep(1200);
    expect(values(io, PINS.redLed, mark)).toEqual([1, 0]);
    expect(values(io, PINS.buzzer, mark)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(values(io, PINS.relay, mark)).toEqual([]);
  });

  it('exit button: pulses the relay and reports the request; the door opening then is not forced', async () => {
    const { io, events, mark } = await startGate();
    await setInput(io, PINS.exitButton, 0);
    await setInput(io, PINS.doorContact, 1);
    await setInput(io, PINS.doorContact, 0);
    expect(values(io, PINS.relay, mark)).toEqual([1]);
    expect(events).toEqual(['exit-request', 'door-closed']);
  });

  it('a door opened with no grant is forced: alarm event and alarm beeps', async () => {
    const { io, events, mark } = await startGate();
    await setInput(io, PINS.doorContact, 1);
    expect(events).toEqual(['door-forced']);
    await sleep(100);
    expect(values(io, PINS.buzzer, mark)[0]).toBe(1);
  });

  it('a door opened after a grant is not forced, but held open too long it raises an alarm', async () => {
    const { io, gate, events } = await startGate();
    gate.grant();
    await setInput(io, PINS.doorContact, 1);
    expect(events).toEqual([]);
    await sleep(1200);
    expect(events).toEqual(['door-held-open']);
    await setInput(io, PINS.doorContact, 0);
    expect(events).toEqual(['door-held-open', 'door-closed']);
  });

  it('a door opened once the grant and its grace are over counts as forced', async () => {
    const { io, gate, events } = await startGate();
    gate.grant();
    await sleep(400);
    await setInput(io, PINS.doorContact, 1);
    expect(events).toEqual(['door-forced']);
  });

  it('an active-low exit button resting high does not read as pressed at start', async () => {
    const { io, events } = await startGate();
    await sleep(30);
    expect(events).toEqual([]);
    expect(io.writesTo(PINS.relay).map((w) => w.value)).toEqual([0]);
  });

  it('tells the firmata plugin needs a port, and that raspi-io must be installed', async () => {
    expect(IoConfig.safeParse({ plugin: 'firmata' }).success).toBe(false);
    const raspi = new GateActuators({ config: IoConfig.parse({ plugin: 'raspi' }), logger });
    await expect(raspi.start()).rejects.toThrow(/npm install raspi-io/);
  });
});
