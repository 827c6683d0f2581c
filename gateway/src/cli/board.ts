import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_RTC } from '../clock/index.js';

/** Where the kernel shows the board's model; a test gives its own file. */
export const DEVICE_TREE_MODEL = process.env.EDUCARD_DT_MODEL ?? '/proc/device-tree/model';

/** The gate's wiring on a Raspberry Pi's 40-pin header, as docs/install.md draws it. */
export const PI_WIRING = { relay: 'GPIO17', greenLed: 'GPIO27', redLed: 'GPIO22', buzzer: 'GPIO23' } as const;

export interface Board {
  /** The device tree's model, e.g. "Raspberry Pi 5 Model B Rev 1.0"; absent on a PC. */
  model?: string;
  raspberryPi: boolean;
  /** The IO plugin init proposes: the GPIO character device on any board with a device tree. */
  ioPlugin: 'gpiod' | 'recording';
  /** Whether the board has a real-time clock: a Pi 5 (and its CM5 and 500) by model, any other by its RTC. */
  rtc: boolean;
}

/** What init can tell of the board it runs on, from the device tree and the RTC's sysfs directory. */
export function detectBoard(modelPath = DEVICE_TREE_MODEL, rtcPath = DEFAULT_RTC): Board {
  let model: string | undefined;
  try {
    // The device tree's strings end with a NUL.
    model = readFileSync(modelPath, 'utf8').replace(/\0+$/, '').trim() || undefined;
  } catch {}
  const raspberryPi = model?.startsWith('Raspberry Pi') ?? false;
  const piWithRtc = /^Raspberry Pi (5|500|Compute Module 5)\b/.test(model ?? '');
  return {
    ...(model ? { model } : {}),
    raspberryPi,
    ioPlugin: model ? 'gpiod' : 'recording',
    rtc: piWithRtc || existsSync(rtcPath),
  };
}
