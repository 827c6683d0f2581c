import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import type { LineBias } from '../config.js';
import {
  type GpioBinding,
  GpioError,
  type GpioErrorCode,
  gpioErrorCode,
  type InputHandlers,
  type InputWatch,
  type LineAddress,
  type LineInfo,
  type LineRequestOptions,
  lineLabel,
  type OutputLine,
} from './binding.js';
import { watchWithGpiomon } from './gpiomon.js';

/** The parts of node-libgpiod 0.5 (libgpiod 1.x) this binding uses; the package is optional. */
interface NativeChip {
  readonly label: string;
}
interface NativeLine {
  readonly offset: number;
  readonly name: string | undefined;
  readonly consumer: string | undefined;
  readonly used: boolean;
  update(): void;
  getValue(): 0 | 1;
  setValue(value: 0 | 1): void;
  requestOutputModeFlags(consumer: string, flags: number, defaultValue: 0 | 1): void;
  requestInputModeFlags(consumer: string, flags: number): void;
  release(): void;
}
interface NodeLibgpiod {
  readonly version: string;
  Chip: new (id: string) => NativeChip;
  Line: (new (
    chip: NativeChip,
    id: number | string,
  ) => NativeLine) & {
    RequestFlags: { ACTIVE_LOW: number; BIAS_DISABLE: number; BIAS_PULL_DOWN: number; BIAS_PULL_UP: number };
  };
}

export interface LibgpiodOptions {
  /** Where the chips' device nodes are. */
  devDir?: string;
  /** The npm package to load; a test names one that is not there. */
  packageName?: string;
  /** The directories searched for gpiomon; PATH by default. */
  path?: string;
}

const TOOLS_HINT = 'sudo apt-get install gpiod libgpiod-dev, then npm install node-libgpiod in /opt/educard';
/**
 * What a system with libgpiod 2 (Debian 13, Raspberry Pi OS trixie) can do instead: node-libgpiod does
 * not build against it, so following TOOLS_HINT there fails.
 */
const LIBGPIOD_2_HINT =
  'node-libgpiod does not build against libgpiod 2: drive the gate through a Firmata board on USB (io.plugin "firmata"), or install the gateway on Debian 12 or Raspberry Pi OS bookworm (libgpiod 1.6)';

/** The libgpiod release of the system's tools (`gpiomon --version`), e.g. "2.1.3"; undefined if unknown. */
export function libgpiodToolsVersion(gpiomon: string): string | undefined {
  try {
    const printed = execFileSync(gpiomon, ['--version'], { encoding: 'utf8', timeout: 2000 });
    // "gpiomon (libgpiod) v1.6.3" up to 2.2; "gpiomon v2.3 (libgpiod v2.3)" since.
    return /\(libgpiod\)? v(\d+(?:\.\d+)+)/.exec(printed)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Loads node-libgpiod (built against Debian's libgpiod 1.6; it does not build against libgpiod 2)
 * and finds gpiomon, or says what to install.
 */
export function loadLibgpiod(options: LibgpiodOptions = {}): GpioBinding {
  const packageName = options.packageName ?? 'node-libgpiod';
  const gpiomon = findTool('gpiomon', options.path ?? process.env.PATH ?? '');
  let native: NodeLibgpiod;
  try {
    native = createRequire(import.meta.url)(packageName) as NodeLibgpiod;
  } catch (error) {
    const tools = gpiomon ? libgpiodToolsVersion(gpiomon) : undefined;
    const hint =
      tools && !tools.startsWith('1.')
        ? `this system has libgpiod ${tools}; ${LIBGPIOD_2_HINT}`
        : `${TOOLS_HINT} (deploy/install-gateway.sh does both)`;
    throw new GpioError(
      'failed',
      `the gpiod IO plugin needs the ${packageName} package, built against libgpiod 1.x (${(error as Error).message.split('\n')[0]}): ${hint}`,
    );
  }
  if (!gpiomon) {
    throw new GpioError(
      'failed',
      'the gpiod IO plugin needs the gpiomon tool for edge events: sudo apt-get install gpiod',
    );
  }
  return new LibgpiodBinding(native, gpiomon, options.devDir ?? '/dev');
}

function findTool(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

const ERRNO_TEXT: Partial<Record<GpioErrorCode, string>> = {
  'no-chip': 'no such chip',
  'no-line': 'no such line',
  permission: 'permission denied: the user is not in the gpio group',
  busy: 'held by another process',
};

function failure(error: unknown, what: string): GpioError {
  if (error instanceof GpioError) return error;
  const code = gpioErrorCode((error as NodeJS.ErrnoException).code);
  return new GpioError(code, `${what}: ${ERRNO_TEXT[code] ?? (error as Error).message}`);
}

/**
 * libgpiod 1.x, as Debian 12 and Raspberry Pi OS bookworm ship it. Outputs go through node-libgpiod
 * in this process (a write is one ioctl, about 10 µs); node-libgpiod can request edge events but has
 * no call to wait for or read one, so each input is watched by a `gpiomon` child process, which
 * blocks on the kernel's event file and prints one line per edge.
 */
class LibgpiodBinding implements GpioBinding {
  readonly description: string;
  /** Chips stay open for the life of the binding: a line must not outlive its chip's handle. */
  private readonly open = new Map<string, NativeChip>();

  constructor(
    private readonly native: NodeLibgpiod,
    private readonly gpiomon: string,
    private readonly devDir: string,
  ) {
    this.description = `libgpiod ${native.version} (node-libgpiod; ${gpiomon} for edges)`;
  }

  chips(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.devDir).filter((name) => /^gpiochip\d+$/.test(name));
    } catch {
      return [];
    }
    return names.sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
  }

  chip(id: string): string {
    const chips = this.chips();
    const name = id.replace(/^\/dev\//, '').replace(/^(\d+)$/, 'gpiochip$1');
    if (chips.includes(name)) {
      this.handle(name);
      return name;
    }
    const labelled = chips.find((chip) => this.handle(chip).label === id);
    if (!labelled)
      throw new GpioError('no-chip', `no GPIO chip ${id} (found: ${chips.join(', ') || 'none'})`);
    return labelled;
  }

  find(name: string): LineAddress | undefined {
    for (const chip of this.chips()) {
      try {
        const line = new this.native.Line(this.handle(chip), name);
        return { chip, offset: line.offset };
      } catch (error) {
        if (error instanceof GpioError) throw error;
      }
    }
    return undefined;
  }

  info(address: LineAddress): LineInfo {
    const line = this.line(address);
    line.update();
    const { name, consumer } = line;
    return { ...address, ...(name ? { name } : {}), ...(consumer ? { consumer } : {}), used: line.used };
  }

  requestOutput(address: LineAddress, options: LineRequestOptions & { initial: 0 | 1 }): OutputLine {
    const line = this.line(address);
    const flags = options.activeLow ? this.native.Line.RequestFlags.ACTIVE_LOW : 0;
    try {
      line.requestOutputModeFlags(options.consumer, flags, options.initial);
    } catch (error) {
      throw this.requestFailure(error, address);
    }
    return {
      set: (value) => {
        try {
          line.setValue(value);
        } catch (error) {
          throw failure(error, `cannot drive ${lineLabel(address)}`);
        }
      },
      release: () => line.release(),
    };
  }

  watchInput(
    address: LineAddress,
    options: LineRequestOptions & { bias: LineBias },
    on: InputHandlers,
  ): InputWatch {
    const initial = this.readOnce(address, options);
    return { initial, ...watchWithGpiomon(this.gpiomon, address, options, on) };
  }

  /**
   * The level before gpiomon takes the line: read through a short request, with the bias the watch
   * will have. An edge in the milliseconds between the two is seen at the next edge.
   */
  private readOnce(address: LineAddress, options: LineRequestOptions & { bias: LineBias }): 0 | 1 {
    const line = this.line(address);
    const { RequestFlags } = this.native.Line;
    const biasFlag = {
      'as-is': 0,
      disable: RequestFlags.BIAS_DISABLE,
      'pull-up': RequestFlags.BIAS_PULL_UP,
      'pull-down': RequestFlags.BIAS_PULL_DOWN,
    }[options.bias];
    try {
      line.requestInputModeFlags(
        options.consumer,
        biasFlag | (options.activeLow ? RequestFlags.ACTIVE_LOW : 0),
      );
    } catch (error) {
      throw this.requestFailure(error, address);
    }
    try {
      return line.getValue();
    } catch (error) {
      throw failure(error, `cannot read ${lineLabel(address)}`);
    } finally {
      line.release();
    }
  }

  private requestFailure(error: unknown, address: LineAddress): GpioError {
    const result = failure(error, `cannot request ${lineLabel(address)}`);
    if (result.code !== 'busy') return result;
    const holder = this.info(address).consumer;
    return new GpioError('busy', `${lineLabel(address)} is held by "${holder ?? 'another process'}"`);
  }

  private line(address: LineAddress): NativeLine {
    try {
      return new this.native.Line(this.handle(address.chip), address.offset);
    } catch (error) {
      throw failure(error, `no line ${lineLabel(address)}`);
    }
  }

  private handle(chip: string): NativeChip {
    const open = this.open.get(chip);
    if (open) return open;
    try {
      const handle = new this.native.Chip(chip);
      this.open.set(chip, handle);
      return handle;
    } catch (error) {
      throw failure(error, `cannot open /dev/${chip}`);
    }
  }
}
