import { spawn } from 'node:child_process';
import type { LineBias } from '../config.js';
import {
  GpioError,
  type GpioErrorCode,
  type InputHandlers,
  type LineAddress,
  type LineRequestOptions,
  lineLabel,
} from './binding.js';

/** gpiomon's stderr says why it stopped; its exit code does not. */
function gpiomonCode(stderr: string): GpioErrorCode {
  if (/resource busy/i.test(stderr)) return 'busy';
  if (/permission denied/i.test(stderr)) return 'permission';
  if (/no such file/i.test(stderr)) return 'no-chip';
  return 'failed';
}

/**
 * Watches one line's edges with libgpiod 1.6's `gpiomon`: it requests the line for both edges and
 * blocks on the kernel's event file, printing the level after each edge (`%e`: 1 rising, 0 falling,
 * active-low applied), flushed line by line. Its end, whatever the cause, is reported once through
 * `failed`, unless it was asked for.
 */
export function watchWithGpiomon(
  tool: string,
  address: LineAddress,
  options: LineRequestOptions & { bias: LineBias },
  on: InputHandlers,
): { release(): void } {
  const args = [
    '--line-buffered',
    '--format=%e',
    `--bias=${options.bias}`,
    ...(options.activeLow ? ['--active-low'] : []),
    address.chip,
    String(address.offset),
  ];
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let over = false;
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const text of lines) {
      const value = text.trim();
      if (value === '0' || value === '1') on.edge(Number(value) as 0 | 1);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-500);
  });
  const ended = (why: string, code: GpioErrorCode) => {
    if (over) return;
    over = true;
    on.failed(
      new GpioError(code, `gpiomon on ${lineLabel(address)} ${why}${stderr ? `: ${stderr.trim()}` : ''}`),
    );
  };
  child.on('error', (error) => ended(`could not run (${error.message})`, 'failed'));
  child.on('close', (code, signal) => ended(`exited (${signal ?? `code ${code}`})`, gpiomonCode(stderr)));
  return {
    release: () => {
      over = true;
      child.kill('SIGTERM');
    },
  };
}
