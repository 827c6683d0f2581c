import type { LineBias } from '../config.js';

/** One line of one chip, as the kernel numbers it. */
export interface LineAddress {
  /** The chip's name, e.g. gpiochip0. */
  chip: string;
  offset: number;
}

/** What the kernel tells of a line without requesting it. */
export interface LineInfo extends LineAddress {
  name?: string;
  /** Who holds the line, when someone does: another process, or this one. */
  consumer?: string;
  used: boolean;
}

export interface LineRequestOptions {
  /** The name the kernel shows as the line's consumer while it is held (gpioinfo). */
  consumer: string;
  /** The kernel inverts the line: logical 1 is the low level. */
  activeLow: boolean;
}

export interface OutputLine {
  /** Drives the line to a logical value (the kernel applies active-low). */
  set(value: 0 | 1): void;
  release(): void;
}

export interface InputHandlers {
  /** An edge the kernel saw, with the logical level after it. */
  edge(value: 0 | 1): void;
  /** The watch ended on its own (its process died, the chip went away): no more edges will come. */
  failed(error: Error): void;
}

export interface InputWatch {
  /** The logical level when the watch began. */
  initial: 0 | 1;
  release(): void;
}

/**
 * The boundary of the gpiod IO plugin: the GPIO character device as a handful of calls. The real one
 * is libgpiod (node-libgpiod in process for outputs, the `gpiomon` tool for edge events); tests use a
 * recording one, since no GPIO chip exists where they run. Every call throws a {@link GpioError}.
 */
export interface GpioBinding {
  /** What the binding is, for logs and doctor: e.g. "libgpiod 1.6.3 (node-libgpiod, gpiomon)". */
  readonly description: string;
  /** The chips present, by name (gpiochip0, …). */
  chips(): string[];
  /** A chip's name from its name, path or label. */
  chip(id: string): string;
  /** The line of this name on any chip (the first one found), if there is one. */
  find(name: string): LineAddress | undefined;
  info(line: LineAddress): LineInfo;
  requestOutput(line: LineAddress, options: LineRequestOptions & { initial: 0 | 1 }): OutputLine;
  /** Requests the line as an input with both edges reported by the kernel, no polling. */
  watchInput(
    line: LineAddress,
    options: LineRequestOptions & { bias: LineBias },
    on: InputHandlers,
  ): InputWatch;
}

export type GpioErrorCode = 'no-chip' | 'no-line' | 'permission' | 'busy' | 'failed';

export class GpioError extends Error {
  constructor(
    readonly code: GpioErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'GpioError';
  }
}

/** The error code a system call's errno means for a GPIO line. */
export function gpioErrorCode(errno: string | undefined): GpioErrorCode {
  switch (errno) {
    case 'ENOENT':
    case 'ENODEV':
      return 'no-chip';
    case 'EINVAL':
      return 'no-line';
    case 'EACCES':
    case 'EPERM':
      return 'permission';
    case 'EBUSY':
      return 'busy';
    default:
      return 'failed';
  }
}

export const lineLabel = (line: LineAddress, name?: string) =>
  `${line.chip}:${line.offset}${name ? ` (${name})` : ''}`;
