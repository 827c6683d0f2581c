import {
  activeLevelOf,
  type GatePart,
  type InputPart,
  type IoConfig,
  isInputPart,
  type LineBias,
} from '../config.js';
import { type GpioBinding, GpioError, type LineAddress, lineLabel } from './binding.js';

/** A configured part resolved to the line it is wired to. */
export interface PlannedLine {
  part: GatePart;
  /** The pin as `io.pins` gives it. */
  pin: number | string;
  kind: 'output' | 'input';
  address: LineAddress;
  /** The line's name as the kernel knows it (the board's, e.g. GPIO17), if it has one. */
  name?: string;
  activeLow: boolean;
  /** Inputs only. */
  bias?: LineBias;
}

const CHIP_OFFSET = /^(.+):(\d{1,4})$/;

/** The line a pin names: an offset on the default chip, "chip:offset", or a line name on any chip. */
export function resolvePin(pin: number | string, config: IoConfig, binding: GpioBinding): LineAddress {
  if (typeof pin === 'number') return { chip: binding.chip(config.gpiod.chip), offset: pin };
  const chipOffset = CHIP_OFFSET.exec(pin);
  if (chipOffset) return { chip: binding.chip(chipOffset[1] as string), offset: Number(chipOffset[2]) };
  const found = binding.find(pin);
  if (!found) {
    throw new GpioError(
      'no-line',
      `no GPIO line is named ${pin} on any chip (${binding.chips().join(', ') || 'no chip found'}); name it as chip:offset, e.g. gpiochip0:17`,
    );
  }
  return found;
}

/**
 * The pull resistor of an input unless the config names one. The door contact, the exit button and
 * the lockdown switch are held at rest (a door shut, a button released, the switch off): a contact that closes to ground when active
 * needs a pull-up, one that closes to 3.3 V a pull-down. The emergency release is held at its active
 * level: its contact is closed at rest and opens on an alarm, so an open circuit (a cut wire, a
 * contact pulled off) releases the door rather than leaving it locked in a fire.
 */
function defaultBias(part: InputPart, config: IoConfig, activeLow: boolean): LineBias {
  const configured = config.gpiod.bias[part];
  if (configured) return configured;
  const activeLevel = activeLevelOf(config, part);
  const pulledLevel = part === 'emergencyRelease' ? activeLevel : activeLevel === 'high' ? 'low' : 'high';
  return (pulledLevel === 'high') !== activeLow ? 'pull-up' : 'pull-down';
}

/**
 * Every configured part with its line, checked before anything is requested: a pin no line answers
 * to, or two parts on one line, fail with what to fix.
 */
export function planLines(config: IoConfig, binding: GpioBinding): PlannedLine[] {
  const planned: PlannedLine[] = [];
  const pwmBuzzer = config.gpiod.buzzer.drive === 'pwm';
  for (const [part, pin] of Object.entries(config.pins) as [GatePart, number | string | undefined][]) {
    if (pin === undefined || (part === 'buzzer' && pwmBuzzer)) continue;
    const address = resolvePin(pin, config, binding);
    const info = binding.info(address);
    const twin = planned.find((p) => p.address.chip === address.chip && p.address.offset === address.offset);
    if (twin) {
      throw new GpioError(
        'failed',
        `io.pins.${part} and io.pins.${twin.part} are the same line ${lineLabel(address, info.name)}`,
      );
    }
    const activeLow = config.gpiod.activeLow.includes(part);
    planned.push({
      part,
      pin,
      kind: isInputPart(part) ? 'input' : 'output',
      address,
      ...(info.name ? { name: info.name } : {}),
      activeLow,
      ...(isInputPart(part) ? { bias: defaultBias(part, config, activeLow) } : {}),
    });
  }
  return planned;
}
