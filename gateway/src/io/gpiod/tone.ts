import { constants, writeFileSync } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GpioError, gpioErrorCode, type OutputLine } from './binding.js';

/** A passive buzzer: it sounds only while something makes its tone. */
export interface Tone {
  set(on: 0 | 1): void;
  close(): void;
}

/**
 * The tone made by toggling the buzzer's line from a timer. A JavaScript timer fires at most every
 * millisecond, so the square wave is at most 500 Hz and jitters with the event loop: a buzz that is
 * heard, not a clean tone (wire the buzzer to a PWM pin for that).
 */
export function softwareTone(line: OutputLine, hz: number): Tone {
  const halfPeriodMs = Math.max(1, Math.round(500 / hz));
  let timer: NodeJS.Timeout | undefined;
  let level: 0 | 1 = 0;
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
    level = 0;
    line.set(0);
  };
  return {
    set(on) {
      if (!on) return stop();
      if (timer) return;
      timer = setInterval(() => {
        level = level ? 0 : 1;
        line.set(level);
      }, halfPeriodMs);
    },
    close: stop,
  };
}

/** How long udev may take to hand a freshly exported PWM channel's files to the gpio group. */
const EXPORT_WAIT_MS = 2000;

/**
 * A tone from a hardware PWM channel through the kernel's sysfs: a clean square wave at `hz`, 50%
 * duty, switched on and off by `enable`. The pin must be in its PWM function (on a Raspberry Pi,
 * `dtoverlay=pwm` or `pwm-2chan` in config.txt).
 */
export async function pwmTone(root: string, chip: number, channel: number, hz: number): Promise<Tone> {
  const chipDir = join(root, `pwmchip${chip}`);
  const dir = join(chipDir, `pwm${channel}`);
  const fail = (what: string, error: unknown): never => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GpioError(
      gpioErrorCode(code),
      `the buzzer's PWM channel ${dir} ${what} (${code ?? (error as Error).message})`,
    );
  };
  await access(chipDir).catch((error: unknown) => fail('has no PWM chip', error));
  if (!(await exists(dir))) {
    await writeFile(join(chipDir, 'export'), String(channel)).catch((error: unknown) =>
      fail('cannot be exported', error),
    );
    const until = performance.now() + EXPORT_WAIT_MS;
    while (!(await writable(join(dir, 'enable'))) && performance.now() < until) await sleep(50);
  }
  const periodNs = Math.round(1e9 / hz);
  try {
    writeFileSync(join(dir, 'enable'), '0');
    // The duty cycle may never exceed the period, whatever the channel held before.
    writeFileSync(join(dir, 'duty_cycle'), '0');
    writeFileSync(join(dir, 'period'), String(periodNs));
    writeFileSync(join(dir, 'duty_cycle'), String(Math.round(periodNs / 2)));
  } catch (error) {
    fail('cannot be set up', error);
  }
  const enable = (on: 0 | 1) => writeFileSync(join(dir, 'enable'), on ? '1' : '0');
  return { set: enable, close: () => enable(0) };
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const writable = (path: string) =>
  access(path, constants.W_OK).then(
    () => true,
    () => false,
  );
