import five from 'johnny-five';
import { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import { openBoard } from './board.js';
import type { IoConfig, IoTestPart } from './config.js';
import { GpiodIO, type GpioLineStatus } from './gpiod/index.js';
import { BEEPS, type BeepName, DENY_LED_MS } from './patterns.js';

export interface GateIoEvents extends Record<string, unknown> {
  'door-forced': Record<string, never>;
  'door-held-open': { openForMs: number };
  'door-closed': { openForMs: number };
  'exit-request': Record<string, never>;
}

export interface GateIoStatus {
  ready: boolean;
  plugin: IoConfig['plugin'];
  relayClosed: boolean;
  doorOpen: boolean | undefined;
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
    if (config.pins.doorContact !== undefined) {
      const contact = new five.Button({
        pin: config.pins.doorContact,
        board,
        invert: config.door.openLevel === 'low',
      });
      contact.on('press', () => this.doorOpened());
      contact.on('release', () => this.doorClosed());
    }
    if (config.pins.exitButton !== undefined) {
      const button = new five.Button({
        pin: config.pins.exitButton,
        board,
        invert: config.exitButton.pressedLevel === 'low',
      });
      button.on('press', () => {
        this.pulse();
        this.events.emit('exit-request', {});
      });
    }
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
        green.off();
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
      ...(this.board?.io instanceof GpiodIO ? { lines: this.board.io.lines() } : {}),
    };
  }

  async stop(): Promise<void> {
    for (const timer of [
      this.pulseTimer,
      this.denyTimer,
      this.heldTimer,
      this.ledTestTimer,
      ...this.beepTimers,
    ])
      clearTimeout(timer);
    this.beepTimers = [];
    this.relay?.open();
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
    this.accessUntil = performance.now() + ms + this.deps.config.door.graceMs;
    clearTimeout(this.pulseTimer);
    this.pulseTimer = setTimeout(() => {
      this.relay?.open();
      this.green?.off();
    }, ms);
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
    clearTimeout(this.heldTimer);
    this.heldTimer = setTimeout(() => {
      const openForMs = Math.round(performance.now() - now);
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
