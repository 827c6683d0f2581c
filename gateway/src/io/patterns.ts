/** A buzzer pattern: on and off times in milliseconds, played once. */
export type BeepPattern = readonly (readonly [onMs: number, offMs: number])[];

export const BEEPS = {
  grant: [[100, 0]],
  deny: [
    [80, 80],
    [80, 80],
    [80, 0],
  ],
  alarm: [
    [500, 250],
    [500, 250],
    [500, 250],
    [500, 0],
  ],
} as const satisfies Record<string, BeepPattern>;
export type BeepName = keyof typeof BEEPS;

/** How long the red LED shows a denial. */
export const DENY_LED_MS = 1000;
