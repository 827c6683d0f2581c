import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { GateActuators } from './actuators.js';
import { type GatePart, type InputPart, IoConfig } from './config.js';

type OutputPart = Exclude<GatePart, InputPart>;

/** One IO plugin under the gate suite, with the record of what it drove. */
export interface GateIoHarness {
  /** The IO plugin the gate runs on. */
  io: unknown;
  /** A position in the record of writes: {@link written} counts from it. */
  mark(): number;
  /** The values written to a part's pin since a mark, as the gate asked for them (before any inversion). */
  written(part: OutputPart, since?: number): number[];
  /** Sets an input as the wiring would, at the level the gate reads. */
  setInput(part: InputPart, value: 0 | 1): void;
}

export interface GateIoPlugin {
  /** The IO config of the plugin: its name, its pins as it names them, its own section. */
  config: Record<string, unknown>;
  /** How long an input change takes to reach the gate: johnny-five's 7 ms debounce and the plugin's. */
  settleMs: number;
  make(config: IoConfig): Promise<GateIoHarness>;
}

/**
 * What every IO plugin must do for a gate, after aedes-persistence's abstract suite: the relay
 * pulse, the LED and buzzer patterns, a door forced and held open, the exit button. Each plugin's
 * test file runs it on its own harness.
 */
export function describeGateIo(name: string, plugin: GateIoPlugin): void {
  const logger = createLogger('io-test', { level: 'silent' });
  let gate: GateActuators | undefined;

  async function startGate(
    overrides: Record<string, unknown> = {},
    beforeStart: (harness: GateIoHarness) => void = () => {},
  ) {
    const config = IoConfig.parse({
      ...plugin.config,
      relay: { pulseMs: 150 },
      door: { heldOpenMs: 1000, graceMs: 100 },
      emergencyRelease: { restoreAfterMs: 300 },
      ...overrides,
    });
    const harness = await plugin.make(config);
    beforeStart(harness);
    gate = new GateActuators({ config, logger, io: harness.io });
    const events: string[] = [];
    for (const event of [
      'door-forced',
      'door-held-open',
      'door-closed',
      'exit-request',
      'emergency-release',
      'emergency-restored',
      'lockdown',
      'lockdown-lifted',
    ] as const) {
      gate.events.on(event, () => events.push(event));
    }
    await gate.start();
    return { harness, gate, events, mark: harness.mark() };
  }

  const setInput = async (harness: GateIoHarness, part: InputPart, value: 0 | 1) => {
    harness.setInput(part, value);
    await sleep(plugin.settleMs);
  };

  describe(`gate actuators on the ${name} IO plugin`, () => {
    afterEach(async () => {
      await gate?.stop();
      gate = undefined;
    });

    it('grant: the NO relay closes (HIGH) then opens after the pulse, green LED on then off, one beep', async () => {
      const { harness, gate, mark } = await startGate();
      gate.grant();
      expect(harness.written('relay', mark)).toEqual([1]);
      expect(harness.written('greenLed', mark)).toEqual([1]);
      await expect.poll(() => harness.written('relay', mark)).toEqual([1, 0]);
      expect(harness.written('greenLed', mark)).toEqual([1, 0]);
      expect(harness.written('buzzer', mark)).toEqual([1, 0]);
      expect(harness.written('redLed', mark)).toEqual([]);
    });

    it('grant on an NC relay writes the inverse', async () => {
      const { harness, gate, mark } = await startGate({ relay: { type: 'NC', pulseMs: 150 } });
      gate.grant();
      await expect.poll(() => harness.written('relay', mark)).toEqual([0, 1]);
    });

    it('deny: red LED on, then off, and three beeps; the relay stays open', async () => {
      const { harness, gate, mark } = await startGate();
      gate.deny();
      await expect.poll(() => harness.written('redLed', mark)).toEqual([1, 0]);
      expect(harness.written('buzzer', mark)).toEqual([1, 0, 1, 0, 1, 0]);
      expect(harness.written('relay', mark)).toEqual([]);
    });

    // A grace long enough that the door's opening, however late a loaded machine delivers it, is
    // within it: these cases are about what the gate does, not how fast.
    const longGrace = { door: { heldOpenMs: 1000, graceMs: 5000 } };

    it('exit button: pulses the relay and reports the request; the door opening then is not forced', async () => {
      const { harness, events, mark } = await startGate(longGrace);
      await setInput(harness, 'exitButton', 0);
      await setInput(harness, 'doorContact', 1);
      await setInput(harness, 'doorContact', 0);
      expect(harness.written('relay', mark)[0]).toBe(1);
      await expect.poll(() => events).toEqual(['exit-request', 'door-closed']);
    });

    it('a door opened with no grant is forced: alarm event and alarm beeps', async () => {
      const { harness, events, mark } = await startGate();
      await setInput(harness, 'doorContact', 1);
      await expect.poll(() => events).toEqual(['door-forced']);
      await expect.poll(() => harness.written('buzzer', mark)[0]).toBe(1);
    });

    it('a door opened after a grant is not forced, but held open too long it raises an alarm', async () => {
      const { harness, gate, events } = await startGate(longGrace);
      gate.grant();
      await setInput(harness, 'doorContact', 1);
      expect(events).toEqual([]);
      await expect.poll(() => events, { timeout: 5000 }).toEqual(['door-held-open']);
      await setInput(harness, 'doorContact', 0);
      await expect.poll(() => events).toEqual(['door-held-open', 'door-closed']);
    });

    it('a door opened once the grant and its grace are over counts as forced', async () => {
      const { harness, gate, events } = await startGate();
      gate.grant();
      await sleep(400);
      await setInput(harness, 'doorContact', 1);
      await expect.poll(() => events).toEqual(['door-forced']);
    });

    it('emergency release: the door unlocks at once and stays unlocked through a pulse; a door opened then is neither forced nor held open', async () => {
      const { harness, gate, events, mark } = await startGate();
      await setInput(harness, 'emergencyRelease', 1);
      await expect.poll(() => events).toEqual(['emergency-release']);
      expect(harness.written('relay', mark)).toEqual([1]);
      expect(harness.written('greenLed', mark)).toEqual([1]);
      await expect.poll(() => harness.written('buzzer', mark)[0]).toBe(1);
      expect(gate.status().emergencyRelease?.active).toBe(true);
      gate.grant();
      await setInput(harness, 'doorContact', 1);
      // Past the grant's pulse and grace, and past heldOpenMs: the door stays unlocked, no alarm.
      await sleep(1300);
      expect(harness.written('relay', mark)).not.toContain(0);
      await setInput(harness, 'doorContact', 0);
      await expect.poll(() => events).toEqual(['emergency-release', 'door-closed']);
    });

    it('the release ends once its input has been at rest for restoreAfterMs: the door locks again, once, however the contact chatters', async () => {
      const { harness, gate, events, mark } = await startGate();
      await setInput(harness, 'emergencyRelease', 1);
      await setInput(harness, 'emergencyRelease', 0);
      await setInput(harness, 'emergencyRelease', 1);
      await setInput(harness, 'emergencyRelease', 0);
      await expect.poll(() => harness.written('relay', mark)).toEqual([1]);
      await expect.poll(() => events).toEqual(['emergency-release', 'emergency-restored']);
      expect(harness.written('relay', mark)).toEqual([1, 0]);
      expect(harness.written('greenLed', mark)).toEqual([1, 0]);
      expect(gate.status().emergencyRelease).toEqual({ active: false });
      // Normal access again: a door opened now, with no grant, is forced.
      await sleep(200);
      await setInput(harness, 'doorContact', 1);
      await expect.poll(() => events).toContain('door-forced');
    });

    it('a door still open when the release ends raises held-open after heldOpenMs', async () => {
      const { harness, events } = await startGate();
      await setInput(harness, 'emergencyRelease', 1);
      await setInput(harness, 'doorContact', 1);
      await setInput(harness, 'emergencyRelease', 0);
      await expect.poll(() => events).toEqual(['emergency-release', 'emergency-restored']);
      await expect
        .poll(() => events, { timeout: 5000 })
        .toEqual(['emergency-release', 'emergency-restored', 'door-held-open']);
    });

    it('an emergency release already active when the gate starts unlocks the door at once, and a stop leaves it unlocked', async () => {
      const { harness, gate, events, mark } = await startGate({}, (harness) =>
        harness.setInput('emergencyRelease', 1),
      );
      await expect.poll(() => events).toEqual(['emergency-release']);
      expect(harness.written('relay')).toContain(1);
      const beforeStop = harness.mark();
      await gate.stop();
      expect(harness.written('relay', beforeStop)).toEqual([]);
      expect(harness.written('relay', mark).at(-1)).toBe(1);
    });

    it('lockdown: the switch on and off is reported, with beeps, and works neither relay nor LEDs', async () => {
      const { harness, gate, events, mark } = await startGate();
      expect(gate.lockedDown()).toBe(false);
      await setInput(harness, 'lockdown', 0);
      await expect.poll(() => events).toEqual(['lockdown']);
      expect(gate.lockedDown()).toBe(true);
      expect(gate.status().lockdown).toEqual({ active: true, since: expect.stringMatching(/Z$/) });
      await expect.poll(() => harness.written('buzzer', mark)[0]).toBe(1);
      await setInput(harness, 'lockdown', 1);
      await expect.poll(() => events).toEqual(['lockdown', 'lockdown-lifted']);
      expect(gate.lockedDown()).toBe(false);
      expect(harness.written('relay', mark)).toEqual([]);
      expect(harness.written('greenLed', mark)).toEqual([]);
    });

    it('a lockdown switch already on when the gate starts locks it down at once', async () => {
      const { gate, events } = await startGate({}, (harness) => harness.setInput('lockdown', 0));
      await expect.poll(() => events).toEqual(['lockdown']);
      expect(gate.lockedDown()).toBe(true);
    });

    it('an active-low exit button resting high does not read as pressed at start', async () => {
      const { harness, events } = await startGate();
      await sleep(plugin.settleMs);
      expect(events).toEqual([]);
      expect(harness.written('relay')).toEqual([0]);
    });
  });
}
