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

  async function startGate(overrides: Record<string, unknown> = {}) {
    const config = IoConfig.parse({
      ...plugin.config,
      relay: { pulseMs: 150 },
      door: { heldOpenMs: 1000, graceMs: 100 },
      ...overrides,
    });
    const harness = await plugin.make(config);
    gate = new GateActuators({ config, logger, io: harness.io });
    const events: string[] = [];
    for (const event of ['door-forced', 'door-held-open', 'door-closed', 'exit-request'] as const) {
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

    it('an active-low exit button resting high does not read as pressed at start', async () => {
      const { harness, events } = await startGate();
      await sleep(plugin.settleMs);
      expect(events).toEqual([]);
      expect(harness.written('relay')).toEqual([0]);
    });
  });
}
