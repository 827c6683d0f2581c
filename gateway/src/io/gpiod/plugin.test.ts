import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '@educard/scripts/support';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../log/index.js';
import { GateActuators } from '../actuators.js';
import { IoConfig } from '../config.js';
import { describeGateIo } from '../conformance.js';
import {
  GpiodIO,
  type LineAddress,
  libgpiodToolsVersion,
  loadLibgpiod,
  PI_HEADER_LINES,
  probeLines,
  RecordingGpioBinding,
} from './index.js';
import { softwareTone } from './tone.js';

const PI_PINS = {
  relay: 'GPIO17',
  greenLed: 'GPIO27',
  redLed: 'GPIO22',
  buzzer: 'GPIO23',
  doorContact: 'GPIO24',
  exitButton: 'GPIO25',
  emergencyRelease: 'GPIO16',
  lockdown: 'GPIO26',
} as const;
const logger = createLogger('gpiod-test', { level: 'silent' });
// gpio-sim (configfs) would let these run on a kernel's own GPIO code; this machine's kernel has
// neither GPIOLIB nor CONFIGFS, so the recording binding stands in for the kernel.

function lineOf(binding: RecordingGpioBinding, name: string): LineAddress {
  const line = binding.find(name);
  if (!line) throw new Error(`no line ${name}`);
  return line;
}

/** A board whose fire panel contact is closed, as at rest: pulled up, the line reads high only on an alarm. */
function restingBinding(): RecordingGpioBinding {
  const binding = new RecordingGpioBinding();
  binding.setLevel(lineOf(binding, PI_PINS.emergencyRelease), 0);
  return binding;
}

describeGateIo('gpiod', {
  config: { plugin: 'gpiod', pins: PI_PINS, gpiod: { debounceMs: 10 } },
  // johnny-five's 7 ms and the plugin's 10 ms debounce.
  settleMs: 40,
  async make(config) {
    const binding = restingBinding();
    const io = await GpiodIO.open({ config, binding, logger });
    return {
      io,
      mark: () => binding.writes.length,
      written: (part, since) =>
        binding.writesTo(lineOf(binding, PI_PINS[part]), since).map((write) => write.value),
      setInput: (part, value) => binding.setLevel(lineOf(binding, PI_PINS[part]), value),
    };
  },
});

describe('the gpiod IO plugin', () => {
  let gate: GateActuators | undefined;
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gpiod-'));
  });
  afterEach(async () => {
    await gate?.stop();
    gate = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(io: Record<string, unknown>, binding = restingBinding()) {
    const config = IoConfig.parse({
      plugin: 'gpiod',
      pins: PI_PINS,
      relay: { pulseMs: 150 },
      door: { graceMs: 100 },
      ...io,
      gpiod: { debounceMs: 10, ...(io.gpiod as object) },
    });
    const plugin = await GpiodIO.open({ config, binding, logger, pwmRoot: dir });
    gate = new GateActuators({ config, logger, io: plugin });
    const events: string[] = [];
    gate.events.on('door-forced', () => events.push('door-forced'));
    gate.events.on('door-closed', () => events.push('door-closed'));
    await gate.start();
    return { gate, binding, plugin, events, line: (name: string) => lineOf(binding, name) };
  }

  it('finds lines by the board name on any chip, by chip:offset, and by offset on io.gpiod.chip (its label)', async () => {
    const binding = new RecordingGpioBinding([
      { name: 'gpiochip0', label: 'pinctrl-rp1', lines: PI_HEADER_LINES },
      { name: 'gpiochip1', label: 'rp1-extra', lines: ['', 'X1', 'X2'] },
    ]);
    await start(
      {
        pins: { relay: 'X2', greenLed: 'gpiochip1:1', redLed: 22, buzzer: 'GPIO23' },
        gpiod: { chip: 'pinctrl-rp1' },
      },
      binding,
    );
    expect(binding.requests.map((r) => r.line)).toEqual([
      'gpiochip1:2',
      'gpiochip1:1',
      'gpiochip0:22',
      'gpiochip0:23',
    ]);
    expect(binding.requests.every((r) => r.consumer === 'educard-gateway' && r.direction === 'output')).toBe(
      true,
    );
  });

  it('requests an active-low line as such: the gate writes 1, the kernel drives the line low', async () => {
    const { gate, binding, line } = await start({ gpiod: { activeLow: ['relay'] } });
    const mark = binding.writes.length;
    gate.grant();
    expect(binding.writesTo(line('GPIO17'), mark)).toMatchObject([{ value: 1, level: 0 }]);
    expect(binding.requests.find((r) => r.line === 'gpiochip0:17')?.activeLow).toBe(true);
    expect(binding.writesTo(line('GPIO27'), mark)).toMatchObject([{ value: 1, level: 1 }]);
  });

  it('gives each input the pull that holds it at rest, unless the config names one', async () => {
    const { binding, gate } = await start({ gpiod: { bias: { exitButton: 'disable' } } });
    const bias = (offset: number) => binding.requests.find((r) => r.line === `gpiochip0:${offset}`)?.bias;
    // The door contact reads high when open: it rests low, pulled down; the button is bias-free as asked.
    expect(bias(24)).toBe('pull-down');
    expect(bias(25)).toBe('disable');
    // The emergency release is active high: pulled up, so a contact that opens, or a cut wire, releases.
    expect(bias(16)).toBe('pull-up');
    // The lockdown switch closes to ground when on: held at rest by a pull-up.
    expect(bias(26)).toBe('pull-up');
    expect(gate.status().lines).toContainEqual({
      part: 'doorContact',
      pin: 'GPIO24',
      line: 'gpiochip0:24 (GPIO24)',
      direction: 'input',
      activeLow: false,
      bias: 'pull-down',
    });
  });

  it('debounces: a contact bouncing for less than debounceMs counts once, a glitch not at all', async () => {
    const { binding, events, line } = await start({});
    const door = line('GPIO24');
    // Edges closer together than debounceMs (here: in one turn of the event loop) settle as one.
    binding.setLevel(door, 1);
    binding.setLevel(door, 0);
    await sleep(40);
    expect(events).toEqual([]);
    for (const level of [1, 0, 1, 0, 1] as const) binding.setLevel(door, level);
    await until(() => events.length > 0, { what: 'the door event' });
    await sleep(40);
    expect(events).toEqual(['door-forced']);
  });

  it('a line held by another process: the start fails naming the line and its holder, and holds nothing', async () => {
    const binding = new RecordingGpioBinding();
    binding.claim(lineOf(binding, 'GPIO22'), 'pigpiod');
    await expect(start({}, binding)).rejects.toThrow('gpiochip0:22 is held by "pigpiod"');
    expect(binding.heldLines()).toEqual([]);
  });

  it('says what is wrong with a pin: no such line, no permission, two parts on one line', async () => {
    await expect(start({ pins: { ...PI_PINS, relay: 'GPIO99' } })).rejects.toThrow(
      /no GPIO line is named GPIO99 on any chip \(gpiochip0\); name it as chip:offset/,
    );
    const forbidden = new RecordingGpioBinding();
    forbidden.forbid('gpiochip0');
    await expect(start({}, forbidden)).rejects.toThrow('/dev/gpiochip0: permission denied');
    await expect(start({ pins: { ...PI_PINS, redLed: 'gpiochip0:27' } })).rejects.toThrow(
      'io.pins.redLed and io.pins.greenLed are the same line gpiochip0:27 (GPIO27)',
    );
  });

  it('an input watch that dies: the gate goes on, the fault shows, and the watch comes back with the level it finds', async () => {
    const { gate, binding, events, line } = await start({});
    const door = line('GPIO24');
    binding.breakWatch(door, 'gpiomon killed');
    expect(gate.status().lines?.find((l) => l.part === 'doorContact')?.fault).toMatch(/gpiomon killed/);
    const mark = binding.writes.length;
    gate.grant();
    expect(binding.writesTo(line('GPIO17'), mark).map((w) => w.value)).toEqual([1]);
    await sleep(400);
    // The door opens while nothing watches it; the watch, back after its backoff, finds it open.
    binding.setLevel(door, 1);
    await until(() => events.length > 0, { what: 'the door event' });
    expect(events).toEqual(['door-forced']);
    expect(gate.status().lines?.find((l) => l.part === 'doorContact')?.fault).toBeUndefined();
  });

  it('a write that fails is a fault, not a crash: the gate goes on, and the fault clears once writes work', async () => {
    const { gate, binding, line } = await start({});
    binding.breakLine(line('GPIO27'), 'cannot drive gpiochip0:27: Input/output error');
    const mark = binding.writes.length;
    gate.grant();
    expect(binding.writesTo(line('GPIO17'), mark).map((w) => w.value)).toEqual([1]);
    expect(gate.status().lines?.find((l) => l.part === 'greenLed')?.fault).toBe(
      'cannot drive gpiochip0:27: Input/output error',
    );
    binding.breakLine(line('GPIO27'));
    await until(() => binding.writesTo(line('GPIO17'), mark).length === 2, { what: 'the pulse to end' });
    expect(gate.status().lines?.find((l) => l.part === 'greenLed')?.fault).toBeUndefined();
  });

  it('software tone: the buzzer line toggles while the gate beeps and ends low', async () => {
    const { gate, binding, line } = await start({ gpiod: { buzzer: { drive: 'software', toneHz: 500 } } });
    const mark = binding.writes.length;
    gate.grant();
    const buzzer = () => binding.writesTo(line('GPIO23'), mark).map((w) => w.value);
    await until(() => buzzer().length >= 4 && buzzer().at(-1) === 0 && buzzer(), {
      what: 'a beep',
      everyMs: 5,
    });
    await sleep(150);
    const after = buzzer();
    expect(after.slice(0, 3)).toEqual([1, 0, 1]);
    expect(after.at(-1)).toBe(0);
  });

  it('software tone: a square wave of half periods of 500/toneHz ms (1 ms at most 500 Hz), stopped low', () => {
    vi.useFakeTimers();
    try {
      const values: number[] = [];
      const tone = softwareTone({ set: (value) => values.push(value), release: () => undefined }, 250);
      tone.set(1);
      vi.advanceTimersByTime(20);
      expect(values).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
      tone.set(0);
      vi.advanceTimersByTime(20);
      expect(values).toHaveLength(11);
      expect(values.at(-1)).toBe(0);
      const fast: number[] = [];
      softwareTone({ set: (value) => fast.push(value), release: () => undefined }, 2700).set(1);
      vi.advanceTimersByTime(5);
      expect(fast).toEqual([1, 0, 1, 0, 1]);
    } finally {
      vi.clearAllTimers();
      vi.useRealTimers();
    }
  });

  it('pwm tone: exports the channel, sets the tone at 50% duty, and enables it while the buzzer sounds', async () => {
    const chip = join(dir, 'pwmchip0');
    await mkdir(chip);
    await writeFile(join(chip, 'export'), '');
    // The kernel's part: an exported channel appears with its files, at once (made aside, then
    // renamed into place), so that none of them is written after the plugin has set it.
    let exported = false;
    const kernel = setInterval(async () => {
      if (exported || (await readFile(join(chip, 'export'), 'utf8')) !== '1' || exported) return;
      exported = true;
      const aside = join(dir, 'pwm1-aside');
      await mkdir(aside);
      for (const file of ['enable', 'period', 'duty_cycle']) await writeFile(join(aside, file), '0');
      await rename(aside, join(chip, 'pwm1'));
    }, 10);
    try {
      const { gate, binding } = await start({
        gpiod: { buzzer: { drive: 'pwm', toneHz: 2500, pwm: { chip: 0, channel: 1 } } },
      });
      const read = (file: string) => readFile(join(chip, 'pwm1', file), 'utf8');
      expect(await read('period')).toBe('400000');
      expect(await read('duty_cycle')).toBe('200000');
      expect(binding.requests.map((r) => r.line)).not.toContain('gpiochip0:23');
      gate.grant();
      await until(async () => (await read('enable')) === '1', { what: 'the tone on', everyMs: 2 });
      await until(async () => (await read('enable')) === '0', { what: 'the tone off', everyMs: 2 });
      expect(gate.status().lines?.find((l) => l.part === 'buzzer')?.line).toBe('pwmchip0/pwm1');
    } finally {
      clearInterval(kernel);
    }
  });

  it('a pwm chip that is not there fails the start with the path', async () => {
    await expect(
      start({ gpiod: { buzzer: { drive: 'pwm', pwm: { chip: 3, channel: 0 } } } }),
    ).rejects.toThrow(/pwmchip3.*has no PWM chip/);
  });

  it('releases every line when the gate stops', async () => {
    const { binding } = await start({});
    expect(binding.heldLines()).toHaveLength(8);
    await gate?.stop();
    gate = undefined;
    expect(binding.heldLines()).toEqual([]);
  });

  it('says what to install when node-libgpiod is not there', () => {
    expect(() => loadLibgpiod({ packageName: 'node-libgpiod-not-here' })).toThrow(
      /needs the node-libgpiod-not-here package, built against libgpiod 1.x .*sudo apt-get install gpiod libgpiod-dev/,
    );
  });

  it('says what to do instead on a system with libgpiod 2, where node-libgpiod does not build', async () => {
    // The system's gpiomon, as each libgpiod release prints its version (no GPIO chip needed for that).
    const tools = await mkdtemp(join(tmpdir(), 'gpiod-tools-'));
    const gpiomon = (printed: string) =>
      writeFile(join(tools, 'gpiomon'), `#!/bin/sh\necho '${printed}'\n`, { mode: 0o755 });
    const load = () => loadLibgpiod({ packageName: 'node-libgpiod-not-here', path: tools });
    try {
      await gpiomon('gpiomon (libgpiod) v2.1.3');
      expect(libgpiodToolsVersion(join(tools, 'gpiomon'))).toBe('2.1.3');
      expect(load).toThrow(
        /this system has libgpiod 2\.1\.3; node-libgpiod does not build against libgpiod 2: .*"firmata".*bookworm/,
      );
      await gpiomon('gpiomon v2.3 (libgpiod v2.3)');
      expect(load).toThrow(/this system has libgpiod 2\.3;/);
      // Debian 12's tools: the usual hint.
      await gpiomon('gpiomon (libgpiod) v1.6.3');
      expect(load).toThrow(/sudo apt-get install gpiod libgpiod-dev, then npm install node-libgpiod/);
    } finally {
      await rm(tools, { recursive: true, force: true });
    }
  });
});

describe('probing the configured lines (doctor)', () => {
  it('tells each line: free, held and by whom, missing, or not permitted', () => {
    const config = IoConfig.parse({ plugin: 'gpiod', pins: { ...PI_PINS, exitButton: 'GPIO40' } });
    const binding = new RecordingGpioBinding();
    binding.claim(lineOf(binding, 'GPIO17'), 'gpioset');
    const probes = probeLines(config, binding);
    expect(probes.map((p) => [p.part, p.status])).toEqual([
      ['relay', 'busy'],
      ['greenLed', 'ok'],
      ['redLed', 'ok'],
      ['buzzer', 'ok'],
      ['doorContact', 'ok'],
      ['exitButton', 'no-line'],
      ['emergencyRelease', 'ok'],
      ['lockdown', 'ok'],
    ]);
    expect(probes[0]?.detail).toBe('gpiochip0:17 (GPIO17) is held by "gpioset"');
    binding.forbid('gpiochip0');
    expect(probeLines(config, binding).map((p) => p.status)).toEqual(Array(8).fill('permission'));
  });
});
