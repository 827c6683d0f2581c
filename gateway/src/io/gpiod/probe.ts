import type { GatePart, IoConfig } from '../config.js';
import { type GpioBinding, GpioError, type GpioErrorCode, lineLabel } from './binding.js';
import { resolvePin } from './lines.js';

/** What doctor finds of one configured line while the gateway does not hold it. */
export interface LineProbe {
  part: GatePart;
  pin: number | string;
  /** chip:offset (name), once the pin is resolved. */
  line?: string;
  status: 'ok' | GpioErrorCode;
  detail: string;
}

/**
 * Each configured line looked up without requesting it: whether it exists, whether this user may
 * open its chip, and who holds it, if anyone does (a pigpiod, a forgotten gpioset, an orphaned
 * gpiomon). Every part is probed, so one bad pin does not hide another.
 */
export function probeLines(config: IoConfig, binding: GpioBinding): LineProbe[] {
  const probes: LineProbe[] = [];
  for (const [part, pin] of Object.entries(config.pins) as [GatePart, number | string | undefined][]) {
    if (pin === undefined || (part === 'buzzer' && config.gpiod.buzzer.drive === 'pwm')) continue;
    try {
      const address = resolvePin(pin, config, binding);
      const info = binding.info(address);
      const line = lineLabel(address, info.name);
      probes.push(
        info.used
          ? { part, pin, line, status: 'busy', detail: `${line} is held by "${info.consumer ?? 'unknown'}"` }
          : { part, pin, line, status: 'ok', detail: `${line} free` },
      );
    } catch (error) {
      const code = error instanceof GpioError ? error.code : 'failed';
      probes.push({ part, pin, status: code, detail: (error as Error).message });
    }
  }
  return probes;
}
