import { EventEmitter } from 'node:events';

export interface PinWrite {
  pin: number;
  value: number;
  /** performance.now() of the write. */
  at: number;
}

/** How the demo and the tests wire a recording board: the config's default outputs, and each input. */
export const RECORDING_BOARD_PINS = {
  relay: 4,
  greenLed: 5,
  redLed: 6,
  buzzer: 7,
  doorContact: 8,
  exitButton: 9,
  emergencyRelease: 10,
  lockdown: 11,
} as const;

const MODES = { INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4 } as const;
const PIN_COUNT = 32;

/**
 * A johnny-five IO plugin with no hardware behind it: it keeps every pin write with its time, and
 * lets a test or the demo set input pins (a door contact, an exit button). The gate code runs on it
 * unchanged; it is the boundary we cannot run here, recorded rather than faked.
 */
export class RecordingIO extends EventEmitter {
  readonly name = 'RecordingIO';
  readonly MODES = MODES;
  readonly HIGH = 1;
  readonly LOW = 0;
  readonly defaultLed = 13;
  readonly analogPins: number[] = [];
  readonly isReady = true;
  readonly pins = Array.from({ length: PIN_COUNT }, () => ({
    supportedModes: [MODES.INPUT, MODES.OUTPUT],
    mode: MODES.OUTPUT as number,
    value: 0,
    report: 1,
    analogChannel: 127,
  }));
  readonly writes: PinWrite[] = [];
  private readonly readers = new Map<number, ((value: number) => void)[]>();

  /** `idle`: the level each input pin rests at, as its pull-up or pull-down would hold it. */
  constructor(idle: Record<number, 0 | 1> = {}) {
    super();
    for (const [pin, value] of Object.entries(idle)) {
      const state = this.pins[Number(pin)];
      if (state) state.value = value;
    }
  }

  pinMode(pin: number, mode: number): this {
    const state = this.pins[pin];
    if (state) state.mode = mode;
    return this;
  }

  digitalWrite(pin: number, value: number): this {
    const state = this.pins[pin];
    if (state) state.value = value ? 1 : 0;
    this.writes.push({ pin, value: value ? 1 : 0, at: performance.now() });
    return this;
  }

  analogWrite(pin: number, value: number): this {
    return this.digitalWrite(pin, value);
  }

  digitalRead(pin: number, callback: (value: number) => void): this {
    const list = this.readers.get(pin) ?? [];
    list.push(callback);
    this.readers.set(pin, list);
    callback(this.pins[pin]?.value ?? 0);
    return this;
  }

  reportDigitalPin(): this {
    return this;
  }

  setSamplingInterval(): this {
    return this;
  }

  /** Drives an input pin as the wiring would: every digitalRead listener hears the change. */
  setInput(pin: number, value: 0 | 1): void {
    const state = this.pins[pin];
    if (state) state.value = value;
    for (const callback of this.readers.get(pin) ?? []) callback(value);
  }

  /** Writes to one pin, from a position in the record on (an index into {@link writes}). */
  writesTo(pin: number, since = 0): PinWrite[] {
    return this.writes.slice(since).filter((write) => write.pin === pin);
  }

  close(): void {
    this.readers.clear();
  }
}
