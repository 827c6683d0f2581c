import { z } from 'zod';

/**
 * A pin as the IO plugin names it: a number, or a name. For gpiod a number is a line offset on
 * `io.gpiod.chip`, a name is the line's name on any chip ("GPIO17") or "chip:offset" ("gpiochip4:17");
 * for raspi-io, "GPIO17" or "P1-11".
 */
const PinId = z.union([z.number().int().nonnegative().max(255), z.string().min(1).max(32)]);

/** The gate's parts that sit on a pin, as `io.pins` names them. */
export const GATE_PARTS = [
  'relay',
  'greenLed',
  'redLed',
  'buzzer',
  'doorContact',
  'exitButton',
  'emergencyRelease',
  'lockdown',
] as const;
export type GatePart = (typeof GATE_PARTS)[number];
export const INPUT_PARTS = ['doorContact', 'exitButton', 'emergencyRelease', 'lockdown'] as const;
export type InputPart = (typeof INPUT_PARTS)[number];
export const isInputPart = (part: GatePart): part is InputPart =>
  (INPUT_PARTS as readonly GatePart[]).includes(part);

export const LINE_BIAS = ['as-is', 'disable', 'pull-up', 'pull-down'] as const;
export type LineBias = (typeof LINE_BIAS)[number];

/** The GPIO character device (`/dev/gpiochipN`) through libgpiod: what the gpiod plugin needs beyond the pins. */
const GpiodConfig = z
  .object({
    /** The chip whose offsets bare pin numbers are: its name ("gpiochip0"), path or label ("pinctrl-rp1"). */
    chip: z.string().min(1).max(64).default('gpiochip0'),
    /** Parts whose line is active-low (a relay board that switches on LOW): the kernel inverts them. */
    activeLow: z.array(z.enum(GATE_PARTS)).default([]),
    /**
     * The inputs' pull resistors. By default the one that holds the door contact, the exit button and
     * the lockdown switch at rest, and the one that holds the emergency release at its active level:
     * its contact is closed at rest, so a cut wire releases the door.
     */
    bias: z
      .object({
        doorContact: z.enum(LINE_BIAS).optional(),
        exitButton: z.enum(LINE_BIAS).optional(),
        emergencyRelease: z.enum(LINE_BIAS).optional(),
        lockdown: z.enum(LINE_BIAS).optional(),
      })
      .prefault({}),
    /** An input counts once it has held a level this long after its last edge: contacts bounce. */
    debounceMs: z.number().int().min(0).max(1000).default(20),
    buzzer: z
      .object({
        /**
         * dc: an active buzzer, sounding while its line is high (any pin); software: a passive one,
         * its line toggled by a timer (a rough tone of at most 500 Hz); pwm: a passive one on a
         * hardware PWM channel, driven through the kernel's PWM sysfs at `toneHz`.
         */
        drive: z.enum(['dc', 'software', 'pwm']).default('dc'),
        toneHz: z.number().int().min(100).max(10_000).default(2700),
        /** The PWM channel the buzzer is wired to: /sys/class/pwm/pwmchip<chip>/pwm<channel>. */
        pwm: z
          .object({ chip: z.number().int().nonnegative(), channel: z.number().int().nonnegative() })
          .optional(),
      })
      .prefault({}),
  })
  .prefault({});

export const IoConfig = z
  .object({
    /**
     * recording: no hardware, every pin write kept (tests, the demo); gpiod: the kernel's GPIO
     * character device (every Raspberry Pi, the Pi 5 included, and most Linux boards); firmata: an
     * Arduino on a serial port; raspi: raspi-io on pigpio (a Pi before the 5).
     */
    plugin: z.enum(['recording', 'gpiod', 'firmata', 'raspi']).default('recording'),
    /** The serial port of a Firmata board, e.g. /dev/ttyACM0. */
    port: z.string().optional(),
    pins: z
      .object({
        relay: PinId.default(4),
        greenLed: PinId.default(5),
        redLed: PinId.default(6),
        buzzer: PinId.default(7),
        doorContact: PinId.optional(),
        exitButton: PinId.optional(),
        /** A fire panel's alarm contact or a break-glass: while it is active the door is held unlocked. */
        emergencyRelease: PinId.optional(),
        /** A key switch or latching button in the gatehouse: while it is on, entries are refused. */
        lockdown: PinId.optional(),
      })
      .prefault({}),
    relay: z
      .object({
        /** NO: the strike is powered (the door opens) while the relay is closed; NC: the reverse. */
        type: z.enum(['NO', 'NC']).default('NO'),
        pulseMs: z.number().int().min(100).max(60_000).default(3000),
      })
      .prefault({}),
    door: z
      .object({
        /** The level the door contact reads while the door is open. */
        openLevel: z.enum(['high', 'low']).default('high'),
        /** A door open longer than this after a grant raises an alarm. */
        heldOpenMs: z.number().int().min(1000).default(30_000),
        /** How long after a grant's pulse the door may still open without counting as forced. */
        graceMs: z.number().int().nonnegative().default(5000),
      })
      .prefault({}),
    exitButton: z.object({ pressedLevel: z.enum(['high', 'low']).default('low') }).prefault({}),
    emergencyRelease: z
      .object({
        /**
         * The level the input reads while the release is asked for. High by default: the fire panel's
         * normally closed contact between the pin and ground, opened by an alarm (or a cut), lets the
         * pull-up take the line high.
         */
        activeLevel: z.enum(['high', 'low']).default('high'),
        /**
         * How long the input must have been at rest before the door locks again: a contact that
         * chatters, or an alarm reset and set again, does not work the lock on and off.
         */
        restoreAfterMs: z.number().int().min(0).max(600_000).default(5000),
      })
      .prefault({}),
    lockdown: z
      .object({
        /** The level the input reads while the switch is on: low, a contact closing to ground. */
        activeLevel: z.enum(['high', 'low']).default('low'),
      })
      .prefault({}),
    gpiod: GpiodConfig,
  })
  .superRefine((config, context) => {
    if (config.plugin === 'firmata' && !config.port) {
      context.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'the firmata plugin needs the serial port, e.g. /dev/ttyACM0',
      });
    }
    if (config.gpiod.buzzer.drive === 'pwm' && !config.gpiod.buzzer.pwm) {
      context.addIssue({
        code: 'custom',
        path: ['gpiod', 'buzzer', 'pwm'],
        message: 'a buzzer driven by pwm needs its channel, e.g. {"chip": 0, "channel": 1}',
      });
    }
  });
export type IoConfig = z.infer<typeof IoConfig>;

/** The level an input reads while it is active: the door open, the button pressed, the alarm on, the switch on. */
export function activeLevelOf(config: IoConfig, part: InputPart): 'high' | 'low' {
  return {
    doorContact: config.door.openLevel,
    exitButton: config.exitButton.pressedLevel,
    emergencyRelease: config.emergencyRelease.activeLevel,
    lockdown: config.lockdown.activeLevel,
  }[part];
}

/** What `educard test-io` can exercise. */
export const IO_TEST_PARTS = ['relay', 'leds', 'buzzer'] as const;
export type IoTestPart = (typeof IO_TEST_PARTS)[number];
