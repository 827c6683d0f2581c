import type { LineBias } from '../config.js';
import {
  type GpioBinding,
  GpioError,
  type InputHandlers,
  type InputWatch,
  type LineAddress,
  type LineInfo,
  type LineRequestOptions,
  lineLabel,
  type OutputLine,
} from './binding.js';

export interface RecordedChip {
  name: string;
  label: string;
  /** Line names by offset; an empty string for a line without one. */
  lines: string[];
}

export interface LineWrite {
  /** chip:offset */
  line: string;
  /** The logical value the plugin asked for. */
  value: 0 | 1;
  /** The electrical level the kernel drove (active-low applied). */
  level: 0 | 1;
  /** performance.now() of the write. */
  at: number;
}

export interface RecordedRequest {
  line: string;
  direction: 'output' | 'input';
  consumer: string;
  activeLow: boolean;
  bias?: LineBias;
  released: boolean;
}

interface Held {
  request: RecordedRequest;
  handlers?: InputHandlers;
}

/** The 40-pin header's lines as a Raspberry Pi's kernel names them: GPIO0 to GPIO27. */
export const PI_HEADER_LINES = Array.from({ length: 28 }, (_, i) => `GPIO${i}`);

/**
 * The GPIO binding as a kernel would behave, without one: chips and named lines, requests and who
 * holds them, every write with its electrical level, inputs whose level a test sets (the kernel
 * reports an edge only on a change, inverted for an active-low line). Fault switches: a chip the
 * user may not open, a line another process holds, a watch that dies.
 */
export class RecordingGpioBinding implements GpioBinding {
  readonly description = 'recording (no GPIO chip)';
  readonly writes: LineWrite[] = [];
  readonly requests: RecordedRequest[] = [];
  private readonly levels = new Map<string, 0 | 1>();
  private readonly held = new Map<string, Held>();
  private readonly foreign = new Map<string, string>();
  private readonly forbidden = new Set<string>();
  private readonly broken = new Map<string, string>();

  constructor(
    private readonly chipList: RecordedChip[] = [
      { name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: PI_HEADER_LINES },
    ],
  ) {}

  chips(): string[] {
    return this.chipList.map((chip) => chip.name);
  }

  chip(id: string): string {
    const name = id.replace(/^\/dev\//, '');
    const chip = this.chipList.find((c) => c.name === name || c.label === id || c.name === `gpiochip${id}`);
    if (!chip) throw new GpioError('no-chip', `no GPIO chip ${id}`);
    this.checkAccess(chip.name);
    return chip.name;
  }

  find(name: string): LineAddress | undefined {
    for (const chip of this.chipList) {
      this.checkAccess(chip.name);
      const offset = chip.lines.indexOf(name);
      if (offset >= 0) return { chip: chip.name, offset };
    }
    return undefined;
  }

  info(line: LineAddress): LineInfo {
    const chip = this.lineChip(line);
    const key = lineLabel(line);
    const consumer = this.foreign.get(key) ?? this.held.get(key)?.request.consumer;
    const name = chip.lines[line.offset];
    return { ...line, ...(name ? { name } : {}), ...(consumer ? { consumer } : {}), used: Boolean(consumer) };
  }

  requestOutput(line: LineAddress, options: LineRequestOptions & { initial: 0 | 1 }): OutputLine {
    const held = this.take(line, 'output', options);
    const key = held.request.line;
    this.levels.set(key, this.level(options.initial, options.activeLow));
    return {
      set: (value) => {
        if (held.request.released) throw new GpioError('failed', `${key} was released`);
        const broken = this.broken.get(key);
        if (broken) throw new GpioError('failed', broken);
        const level = this.level(value, options.activeLow);
        this.levels.set(key, level);
        this.writes.push({ line: key, value, level, at: performance.now() });
      },
      release: () => this.release(held),
    };
  }

  watchInput(
    line: LineAddress,
    options: LineRequestOptions & { bias: LineBias },
    on: InputHandlers,
  ): InputWatch {
    const held = this.take(line, 'input', options);
    held.handlers = on;
    const key = held.request.line;
    if (!this.levels.has(key)) this.levels.set(key, options.bias === 'pull-down' ? 0 : 1);
    return {
      initial: this.level(this.levels.get(key) ?? 0, options.activeLow),
      release: () => this.release(held),
    };
  }

  /** Drives an input line to an electrical level, as the wiring would; the holder hears the edge. */
  setLevel(line: LineAddress, level: 0 | 1): void {
    const key = lineLabel(line);
    if (this.levels.get(key) === level) return;
    this.levels.set(key, level);
    const held = this.held.get(key);
    held?.handlers?.edge(this.level(level, held.request.activeLow));
  }

  /** The electrical level a line is at. */
  levelOf(line: LineAddress): 0 | 1 | undefined {
    return this.levels.get(lineLabel(line));
  }

  /** Another process holds the line (a pigpiod, a forgotten gpioset). */
  claim(line: LineAddress, consumer: string): void {
    this.foreign.set(lineLabel(line), consumer);
  }

  /** The user may not open the chip (not in the gpio group). */
  forbid(chip: string): void {
    this.forbidden.add(chip);
  }

  /** The watch on an input dies, as a gpiomon killed or a chip unbound would. */
  breakWatch(line: LineAddress, message: string): void {
    const held = this.held.get(lineLabel(line));
    if (!held?.handlers) throw new Error(`${lineLabel(line)} is not watched`);
    this.release(held);
    held.handlers.failed(new GpioError('failed', message));
  }

  /** Writes to the line fail (a chip unbound, a driver error), or, with no message, work again. */
  breakLine(line: LineAddress, message?: string): void {
    if (message) this.broken.set(lineLabel(line), message);
    else this.broken.delete(lineLabel(line));
  }

  /** Writes to one line from a position in the record on (an index into {@link writes}). */
  writesTo(line: LineAddress, since = 0): LineWrite[] {
    const key = lineLabel(line);
    return this.writes.slice(since).filter((write) => write.line === key);
  }

  /** Lines held now. */
  heldLines(): string[] {
    return [...this.held.keys()];
  }

  private take(
    line: LineAddress,
    direction: 'output' | 'input',
    options: LineRequestOptions & { bias?: LineBias },
  ) {
    this.lineChip(line);
    const key = lineLabel(line);
    const holder = this.foreign.get(key) ?? this.held.get(key)?.request.consumer;
    if (holder) throw new GpioError('busy', `${key} is held by "${holder}"`);
    const request: RecordedRequest = {
      line: key,
      direction,
      consumer: options.consumer,
      activeLow: options.activeLow,
      ...(options.bias ? { bias: options.bias } : {}),
      released: false,
    };
    this.requests.push(request);
    const held: Held = { request };
    this.held.set(key, held);
    return held;
  }

  private release(held: Held): void {
    held.request.released = true;
    if (this.held.get(held.request.line) === held) this.held.delete(held.request.line);
  }

  private lineChip(line: LineAddress): RecordedChip {
    const chip = this.chipList.find((c) => c.name === line.chip);
    if (!chip) throw new GpioError('no-chip', `no GPIO chip ${line.chip}`);
    this.checkAccess(chip.name);
    if (line.offset >= chip.lines.length)
      throw new GpioError('no-line', `${chip.name} has no line ${line.offset} (it has ${chip.lines.length})`);
    return chip;
  }

  private checkAccess(chip: string): void {
    if (this.forbidden.has(chip)) throw new GpioError('permission', `/dev/${chip}: permission denied`);
  }

  private level(value: 0 | 1, activeLow: boolean): 0 | 1 {
    return (activeLow ? 1 - value : value) as 0 | 1;
  }
}
