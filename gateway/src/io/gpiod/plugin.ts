import { EventEmitter } from 'node:events';
import { backoffDelay } from '@educard/terminal-sdk';
import type { Logger } from '../../log/index.js';
import type { GatePart, IoConfig, LineBias } from '../config.js';
import { type GpioBinding, GpioError, type InputWatch, lineLabel, type OutputLine } from './binding.js';
import { type PlannedLine, planLines } from './lines.js';
import { pwmTone, softwareTone, type Tone } from './tone.js';

/** The consumer name the kernel shows for the gateway's lines (gpioinfo, doctor). */
export const GPIO_CONSUMER = 'educard-gateway';
export const PWM_SYSFS = '/sys/class/pwm';

const MODES = { INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4 } as const;
const WATCH_RETRY_MS = 1000;
const WATCH_RETRY_MAX_MS = 30_000;

export interface GpiodIoOptions {
  config: IoConfig;
  binding: GpioBinding;
  logger: Logger;
  /** The kernel's PWM sysfs, for a buzzer driven by pwm; tests give a directory of their own. */
  pwmRoot?: string;
}

/** One line as `educard status`, `test-io` and `doctor` show it. */
export interface GpioLineStatus {
  part: GatePart;
  pin: number | string;
  /** chip:offset (name). */
  line: string;
  direction: 'output' | 'input';
  activeLow: boolean;
  bias?: LineBias;
  /** What went wrong with the line since it was requested, while it still is wrong. */
  fault?: string;
}

interface Output {
  part: GatePart;
  pin: number | string;
  /** chip:offset (name), or the PWM channel a buzzer is on. */
  label: string;
  activeLow: boolean;
  request?: OutputLine;
  tone?: Tone;
  fault?: string;
}

interface Input {
  line: PlannedLine;
  watch?: InputWatch;
  /** The debounced logical level, the one johnny-five hears. */
  level: 0 | 1;
  readers: ((value: number) => void)[];
  debounce?: NodeJS.Timeout;
  retry: number;
  retryTimer?: NodeJS.Timeout;
  fault?: string;
}

/**
 * A johnny-five IO plugin on the kernel's GPIO character device. Every configured line is requested
 * once, at open, and held for the life of the gateway (so nothing reverts between writes, as it
 * would on a Pi 5 between two `gpioset` runs). Inputs come as kernel edge events, debounced here;
 * a watch that dies is logged and started again with backoff, and the gate goes on deciding.
 *
 * Pins are handled as configured ("GPIO17", 17, "gpiochip0:17"): johnny-five's Button passes the
 * configured value, so there is no normalising to an index.
 */
export class GpiodIO extends EventEmitter {
  readonly name = 'GpiodIO';
  readonly MODES = MODES;
  readonly HIGH = 1;
  readonly LOW = 0;
  readonly defaultLed = -1;
  readonly analogPins: number[] = [];
  readonly isReady = true;
  readonly pins: {
    supportedModes: number[];
    mode: number;
    value: number;
    report: number;
    analogChannel: number;
  }[];
  private readonly outputs = new Map<string, Output>();
  private readonly inputs = new Map<string, Input>();
  private closed = false;

  private constructor(private readonly options: GpiodIoOptions) {
    super();
    const numbers = Object.values(options.config.pins).filter((pin) => typeof pin === 'number');
    this.pins = Array.from({ length: Math.max(-1, ...numbers) + 1 }, () => ({
      supportedModes: [MODES.INPUT, MODES.OUTPUT],
      mode: MODES.OUTPUT,
      value: 0,
      report: 1,
      analogChannel: 127,
    }));
  }

  /**
   * Resolves and requests every configured line, or throws a {@link GpioError} naming the line and
   * what is wrong (no such chip or line, no permission, held by another process) with nothing held.
   */
  static async open(options: GpiodIoOptions): Promise<GpiodIO> {
    const io = new GpiodIO(options);
    try {
      await io.request(planLines(options.config, options.binding));
    } catch (error) {
      io.close();
      throw error;
    }
    return io;
  }

  private async request(planned: PlannedLine[]): Promise<void> {
    const { binding, config } = this.options;
    for (const line of planned) {
      if (line.kind === 'input') {
        const input: Input = { line, level: 0, readers: [], retry: 0 };
        this.inputs.set(String(line.pin), input);
        input.level = this.watch(input).initial;
        continue;
      }
      const request = binding.requestOutput(line.address, {
        consumer: GPIO_CONSUMER,
        activeLow: line.activeLow,
        initial: 0,
      });
      const output: Output = {
        part: line.part,
        pin: line.pin,
        label: lineLabel(line.address, line.name),
        activeLow: line.activeLow,
        request,
      };
      this.outputs.set(String(line.pin), output);
      if (line.part === 'buzzer' && config.gpiod.buzzer.drive === 'software')
        output.tone = softwareTone(request, config.gpiod.buzzer.toneHz);
    }
    const { buzzer } = config.gpiod;
    if (buzzer.drive === 'pwm' && buzzer.pwm && config.pins.buzzer !== undefined) {
      const tone = await pwmTone(
        this.options.pwmRoot ?? PWM_SYSFS,
        buzzer.pwm.chip,
        buzzer.pwm.channel,
        buzzer.toneHz,
      );
      this.outputs.set(String(config.pins.buzzer), {
        part: 'buzzer',
        pin: config.pins.buzzer,
        label: `pwmchip${buzzer.pwm.chip}/pwm${buzzer.pwm.channel}`,
        activeLow: false,
        tone,
      });
    }
  }

  /** The lines as configured and requested, each with its fault if it has one. */
  lines(): GpioLineStatus[] {
    const outputs = [...this.outputs.values()].map(
      ({ part, pin, label, activeLow, fault }): GpioLineStatus => ({
        part,
        pin,
        line: label,
        direction: 'output',
        activeLow,
        ...(fault ? { fault } : {}),
      }),
    );
    const inputs = [...this.inputs.values()].map(
      ({ line, fault }): GpioLineStatus => ({
        part: line.part,
        pin: line.pin,
        line: lineLabel(line.address, line.name),
        direction: 'input',
        activeLow: line.activeLow,
        bias: line.bias ?? 'as-is',
        ...(fault ? { fault } : {}),
      }),
    );
    return [...outputs, ...inputs];
  }

  pinMode(pin: number | string, mode: number): this {
    const key = String(pin);
    const wanted = mode === MODES.INPUT ? this.inputs : this.outputs;
    if (!wanted.has(key)) {
      throw new GpioError(
        'failed',
        `pin ${key} is not configured as ${mode === MODES.INPUT ? 'an input' : 'an output'} in io.pins`,
      );
    }
    const state = typeof pin === 'number' ? this.pins[pin] : undefined;
    if (state) state.mode = mode;
    return this;
  }

  digitalWrite(pin: number | string, value: number): this {
    const output = this.outputs.get(String(pin));
    // johnny-five writes to an input to switch Firmata's pull-up; here the bias is the config's.
    if (!output) return this;
    const level = value ? 1 : 0;
    try {
      if (output.tone) output.tone.set(level);
      else output.request?.set(level);
      output.fault = undefined;
    } catch (error) {
      // A write comes from a timer: throwing would end the process, and the gate must go on deciding.
      const message = (error as Error).message;
      if (output.fault !== message)
        this.options.logger.error(
          { part: output.part, line: output.label, err: message },
          'GPIO write failed',
        );
      output.fault = message;
    }
    const state = typeof pin === 'number' ? this.pins[pin] : undefined;
    if (state) state.value = level;
    return this;
  }

  analogWrite(pin: number | string, value: number): this {
    return this.digitalWrite(pin, value);
  }

  digitalRead(pin: number | string, callback: (value: number) => void): this {
    const input = this.inputs.get(String(pin));
    if (!input) throw new GpioError('failed', `pin ${String(pin)} is not configured as an input in io.pins`);
    input.readers.push(callback);
    callback(input.level);
    return this;
  }

  reportDigitalPin(): this {
    return this;
  }

  setSamplingInterval(): this {
    return this;
  }

  close(): void {
    this.closed = true;
    for (const output of this.outputs.values()) {
      output.tone?.close();
      output.request?.release();
    }
    for (const input of this.inputs.values()) {
      clearTimeout(input.debounce);
      clearTimeout(input.retryTimer);
      input.watch?.release();
      input.readers = [];
    }
    this.outputs.clear();
    this.inputs.clear();
  }

  private watch(input: Input): InputWatch {
    const { line } = input;
    const watch = this.options.binding.watchInput(
      line.address,
      { consumer: GPIO_CONSUMER, activeLow: line.activeLow, bias: line.bias ?? 'as-is' },
      { edge: (value) => this.edge(input, value), failed: (error) => this.watchFailed(input, error) },
    );
    input.watch = watch;
    input.fault = undefined;
    return watch;
  }

  /** The level counts once no other edge has come for the debounce time. */
  private edge(input: Input, value: 0 | 1): void {
    clearTimeout(input.debounce);
    const settle = () => {
      input.debounce = undefined;
      if (value === input.level) return;
      input.level = value;
      for (const reader of input.readers) reader(value);
    };
    const { debounceMs } = this.options.config.gpiod;
    if (debounceMs === 0) settle();
    else input.debounce = setTimeout(settle, debounceMs);
  }

  private watchFailed(input: Input, error: Error): void {
    input.watch = undefined;
    input.fault = error.message;
    if (this.closed) return;
    const delay = backoffDelay(input.retry++, WATCH_RETRY_MS, WATCH_RETRY_MAX_MS);
    this.options.logger.error(
      { part: input.line.part, line: lineLabel(input.line.address), err: error.message, retryInMs: delay },
      'GPIO input watch failed: the gate goes on without it until it is back',
    );
    input.retryTimer = setTimeout(() => {
      if (this.closed) return;
      try {
        const { initial } = this.watch(input);
        input.retry = 0;
        this.options.logger.info({ part: input.line.part }, 'GPIO input watch back');
        this.edge(input, initial);
      } catch (retryError) {
        this.watchFailed(input, retryError as Error);
      }
    }, delay);
  }
}
