import { z } from 'zod';

/** A pin as the IO plugin names it: a number, or a name such as "GPIO17" or "P1-11" for raspi-io. */
const PinId = z.union([z.number().int().nonnegative().max(255), z.string().min(1).max(16)]);

export const IoConfig = z
  .object({
    /** recording: no hardware, every pin write kept (tests, the demo); firmata: an Arduino on a serial port; raspi: the Pi's GPIO. */
    plugin: z.enum(['recording', 'firmata', 'raspi']).default('recording'),
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
  })
  .superRefine((config, context) => {
    if (config.plugin === 'firmata' && !config.port) {
      context.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'the firmata plugin needs the serial port, e.g. /dev/ttyACM0',
      });
    }
  });
export type IoConfig = z.infer<typeof IoConfig>;

/** What `educard test-io` can exercise. */
export const IO_TEST_PARTS = ['relay', 'leds', 'buzzer'] as const;
export type IoTestPart = (typeof IO_TEST_PARTS)[number];
