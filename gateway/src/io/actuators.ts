import five from 'johnny-five';
import { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import { openBoard } from './board.js';
import { activeLevelOf, type InputPart, type IoConfig, type IoTestPart } from './config.js';
import { GpiodIO, type GpioLineStatus } from './gpiod/index.js';
import { BEEPS, type BeepName, DENY_LED_MS } from './patterns.js';

export interface GateIoEvents extends Record<string, unknown> {
  'door-forced': Record<string, never>;
  'door-held-open': { openForMs: number };
  'door-closed': { openForMs: number };
  'exit-request': Record<string, never>;
  'emergency-release': Record<string, never>;
  'emergency-restored': { releasedForMs: number };
  lockdown: Record<string, never>;
  'lockdown-lifted': { lockedForMs: number };
}

/** An input that puts the gate in a state for as long as it lasts. */
export interface InputState {
  active: boolean;
  since?: string;
}

export interface GateIoStatus {
  ready: boolean;
  plugin: IoConfig['plugin'];
  relayClosed: boolean;
  doorOpen: boolean | undefined;
  /** Only with an emergency release input: whether it holds the door unlocked, and since when. */
  emergencyRelease?: InputState;
  /** Only with a lockdown input: whether it is on (entries refused), and since when. */
  lockdown?: InputState;
  /** The gpiod plugin's lines: chip, offset, name, direction, and a fault while one lasts. */
  lines?: GpioLineStatus[];
}

const SELF_TEST_MS = 1000;

export interface GateActuatorsDeps {
  config: IoConfig;
  logger: Logger;
  /** An IO plugin made by the caller (the recording one, in tests); otherwise the config's. */
  io?: unknown;
}

/**
 * The gate's hands and eyes through johnny-five: the strike relay, green and red LEDs, the buzzer,
 * the door contact and the request-to-exit button. Every command returns at once; timers finish it.
 */
export class GateActuators {
  readonly events: EventBus<GateIoEvents>;
  private board: five.Board | undefined;
  private relay: five.Relay | undefined;
  private green: five.Led | undefined;
  private red: five.Led | undefined;
  private buzzer: five.Led | undefined;
  private pulseTimer: NodeJS.Timeout | undefined;
  private denyTimer: NodeJS.Timeout | undefined;
  private ledTestTimer: NodeJS.Timeout | undefined;
  private beepTimers: NodeJS.Timeout[] = [];
  private heldTimer: NodeJS.Timeout | undefined;
  private restoreTimer: NodeJS.Timeout | undefined;
  /** While the emergency release holds the door unlocked: when it began (performance.now() and the wall clock). */
  private released: { at: number; since: Date } | undefined;
  /** While the lockdown switch is on: when it was turned on. */
  private lockdownOn: { at: number; since: Date } | undefined;
  /** Until when the last pulse (a grant, the exit button, a command) holds the relay closed. */
  private pulseUntil = Number.NEGATIVE_INFINITY;
  /** Until when the door may open without counting as forced (performance.now()). */
  private accessUntil = Number.NEGATIVE_INFINITY;
  private doorOpenedAt: number | undefined;

  constructor(private readonly deps: GateActuatorsDeps) {
    this.events = new EventBus(deps.logger);
  }

  async start(): Promise<void> {
    const { config } = this.deps;
    const board = await openBoard(config, this.deps.logger, this.deps.io);
    this.board = board;
    this.relay = new five.Relay({ pin: config.pins.relay, type: config.relay.type, board });
    this.relay.open();
    this.green = new five.Led({ pin: config.pins.greenLed, board });
    this.red = new five.Led({ pin: config.pins.redLed, board });
    this.buzzer = new five.Led({ pin: config.pins.buzzer, board });
    const watch = (part: InputPart, active: () => void, atRest?: () => void) => {
      const pin = config.pins[part];
      if (pin === undefined) return;
      // johnny-five reports an input already active when the board starts (a door open, a release or
      // a lockdown under way). Its "hold" timer would fire every 500 ms for as long as an input stays
      // active (hours, in an alarm) and nothing here listens to it: it is set as far off as a timer goes.
      const input = new five.Button({
        pin,
        board,
        invert: activeLevelOf(config, part) === 'low',
        holdtime: 2 ** 31 - 1,
      });
      input.on('press', active);
      if (atRest) input.on('release', atRest);
    };
    watch(
      'doorContact',
      () => this.doorOpened(),
      () => this.doorClosed(),
    );
    watch('exitButton', () => {
      this.pulse();
      this.events.emit('exit-request', {});
    });
    watch(
      'emergencyRelease',
      () => this.emergencyAsked(),
      () => this.emergencyAtRest(),
    );
    watch(
      'lockdown',
      () => this.lockdownSwitched(true),
      () => this.lockdownSwitched(false),
    );
    this.deps.logger.info({ plugin: config.plugin }, 'gate IO ready');
  }

  /** Opens the door for the configured pulse (or `ms`); a grant during a pulse extends it. */
  grant(ms?: number): void {
    this.pulse(ms);
    this.beep('grant');
  }

  deny(): void {
    if (!this.red) return;
    this.red.on();
    clearTimeout(this.denyTimer);
    this.denyTimer = setTimeout(() => this.red?.off(), DENY_LED_MS);
    this.beep('deny');
  }

  alarm(): void {
    this.beep('alarm');
  }

  /**
   * What `educard test-io` asks for: each named part in turn, so a technician can see and hear that
   * the wiring is right. The relay pulse opens the door, as a grant would.
   */
  selfTest(parts: readonly IoTestPart[]): IoTestPart[] {
    const done: IoTestPart[] = [];
    if (parts.includes('relay') && this.relay) {
      this.pulse(SELF_TEST_MS);
      done.push('relay');
    }
    if (parts.includes('leds') && this.green && this.red) {
      const { green, red } = this;
      green.on();
      red.on();
      clearTimeout(this.ledTestTimer);
      this.ledTestTimer = setTimeout(() => {
        // The green LED shows a door held unlocked by the emergency release: it stays on.
        if (!this.released) green.off();
        red.off();
      }, SELF_TEST_MS);
      done.push('leds');
    }
    if (parts.includes('buzzer') && this.buzzer) {
      this.beep('grant');
      done.push('buzzer');
    }
    return done;
  }

  status(): GateIoStatus {
    return {
      ready: this.board !== undefined,
      plugin: this.deps.config.plugin,
      relayClosed: this.relay?.isClosed ?? false,
      doorOpen: this.deps.config.pins.doorContact === undefined ? undefined : this.doorOpenedAt !== undefined,
      ...(this.deps.config.pins.emergencyRelease === undefined
        ? {}
        : { emergencyRelease: inputState(this.released) }),
      ...(this.deps.config.pins.lockdown === undefined ? {} : { lockdown: inputState(this.lockdownOn) }),
      ...(this.board?.io instanceof GpiodIO ? { lines: this.board.io.lines() } : {}),
    };
  }

  async stop(): Promise<void> {
    for (const timer of [
      this.pulseTimer,
      this.denyTimer,
      this.heldTimer,
      this.restoreTimer,
      this.ledTestTimer,
      ...this.beepTimers,
    ])
      clearTimeout(timer);
    this.beepTimers = [];
    // Stopping (a restart, an update) during an emergency leaves the door unlocked: the next start
    // reads the input again.
    if (this.released)
      this.deps.logger.warn('gate IO stopped during an emergency release: the door is left unlocked');
    else this.relay?.open();
    this.green?.off();
    this.red?.off();
    this.buzzer?.off();
    this.board?.io.close?.();
    this.board = undefined;
  }

  private pulse(ms = this.deps.config.relay.pulseMs): void {
    if (!this.relay || !this.green) return;
    this.relay.close();
    this.green.on();
    this.pulseUntil = performance.now() + ms;
    if (!this.released) this.accessUntil = this.pulseUntil + this.deps.config.door.graceMs;
    clearTimeout(this.pulseTimer);
    this.pulseTimer = setTimeout(() => {
      this.pulseTimer = undefined;
      if (this.released) return;
      this.relay?.open();
      this.green?.off();
    }, ms);
  }

  /**
   * The emergency release input went active: the door is unlocked at once and stays so, whatever the
   * taps, until the input has been at rest for `restoreAfterMs`. A door opened meanwhile is neither
   * forced nor held open.
   */
  private emergencyAsked(): void {
    clearTimeout(this.restoreTimer);
    this.restoreTimer = undefined;
    if (this.released || !this.relay || !this.green) return;
    this.released = { at: performance.now(), since: new Date() };
    this.relay.close();
    this.green.on();
    this.accessUntil = Number.POSITIVE_INFINITY;
    clearTimeout(this.heldTimer);
    this.deps.logger.warn('emergency release: the door is held unlocked until the input is at rest');
    this.alarm();
    this.events.emit('emergency-release', {});
  }

  private emergencyAtRest(): void {
    if (!this.released) return;
    clearTimeout(this.restoreTimer);
    this.restoreTimer = setTimeout(
      () => this.emergencyRestored(),
      this.deps.config.emergencyRelease.restoreAfterMs,
    );
  }

  /** Normal access again: the door locks (unless a pulse is under way), and people still passing have the grace. */
  private emergencyRestored(): void {
    const released = this.released;
    if (!released) return;
    this.released = undefined;
    this.restoreTimer = undefined;
    const now = performance.now();
    this.accessUntil = Math.max(now, this.pulseUntil) + this.deps.config.door.graceMs;
    // A pulse under way locks the door at its own end.
    if (this.pulseTimer === undefined) {
      this.relay?.open();
      this.green?.off();
    }
    if (this.doorOpenedAt !== undefined) this.watchHeldOpen(now);
    const releasedForMs = Math.round(now - released.at);
    this.deps.logger.info({ releasedForMs }, 'emergency release ended: the door locks again');
    this.events.emit('emergency-restored', { releasedForMs });
  }

  /** Whether the emergency release holds the door unlocked. */
  emergencyReleased(): boolean {
    return this.released !== undefined;
  }

  /** Whether the lockdown switch is on: the gate refuses entries (staff's too under `policy.lockdown: deny-all`). */
  lockedDown(): boolean {
    return this.lockdownOn !== undefined;
  }

  private lockdownSwitched(on: boolean): void {
    const was = this.lockdownOn;
    if (on && !was) {
      this.lockdownOn = { at: performance.now(), since: new Date() };
      this.deps.logger.warn('lockdown: the gate refuses entries until the switch is off');
      this.alarm();
      this.events.emit('lockdown', {});
    } else if (!on && was) {
      this.lockdownOn = undefined;
      const lockedForMs = Math.round(performance.now() - was.at);
      this.deps.logger.info({ lockedForMs }, 'lockdown lifted: entries are decided as before');
      this.events.emit('lockdown-lifted', { lockedForMs });
    }
  }

  /** Plays a pattern, cutting short whatever was playing. */
  private beep(name: BeepName): void {
    const buzzer = this.buzzer;
    if (!buzzer) return;
    for (const timer of this.beepTimers) clearTimeout(timer);
    this.beepTimers = [];
    let at = 0;
    for (const [onMs, offMs] of BEEPS[name]) {
      this.beepTimers.push(setTimeout(() => buzzer.on(), at));
      at += onMs;
      this.beepTimers.push(setTimeout(() => buzzer.off(), at));
      at += offMs;
    }
  }

  private doorOpened(): void {
    const now = performance.now();
    this.doorOpenedAt = now;
    if (now > this.accessUntil) {
      this.deps.logger.warn('door forced open');
      this.alarm();
      this.events.emit('door-forced', {});
    }
    if (!this.released) this.watchHeldOpen(now);
  }

  /** Raises the held-open alarm if the door, open since `since`, is still open after `heldOpenMs`. */
  private watchHeldOpen(since: number): void {
    clearTimeout(this.heldTimer);
    this.heldTimer = setTimeout(() => {
      const openForMs = Math.round(performance.now() - since);
      this.deps.logger.warn({ openForMs }, 'door held open');
      this.alarm();
      this.events.emit('door-held-open', { openForMs });
    }, this.deps.config.door.heldOpenMs);
  }

  private doorClosed(): void {
    clearTimeout(this.heldTimer);
    const openedAt = this.doorOpenedAt;
    this.doorOpenedAt = undefined;
    if (openedAt !== undefined)
      this.events.emit('door-closed', { openForMs: Math.round(performance.now() - openedAt) });
  }
}

const inputState = (on: { since: Date } | undefined): InputState => ({
  active: on !== undefined,
  ...(on ? { since: on.since.toISOString() } : {}),
});
