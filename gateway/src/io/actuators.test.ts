import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { describeGateIo } from './conformance.js';
import { GateActuators, IoConfig, RECORDING_BOARD_PINS, recordingIoFor } from './index.js';

const PINS = RECORDING_BOARD_PINS;

describeGateIo('recording', {
  config: { pins: PINS },
  // johnny-five debounces button input by 7 ms; a real contact bounces for longer.
  settleMs: 30,
  async make(config) {
    const io = recordingIoFor(config);
    return {
      io,
      mark: () => io.writes.length,
      written: (part, since) => io.writesTo(PINS[part], since).map((write) => write.value),
      setInput: (part, value) => io.setInput(PINS[part], value),
    };
  },
});

describe('IO plugins that need something first', () => {
  const logger = createLogger('io-test', { level: 'silent' });

  it('tells the firmata plugin needs a port, and that raspi-io must be installed', async () => {
    expect(IoConfig.safeParse({ plugin: 'firmata' }).success).toBe(false);
    const raspi = new GateActuators({ config: IoConfig.parse({ plugin: 'raspi' }), logger });
    await expect(raspi.start()).rejects.toThrow(/npm install raspi-io/);
  });

  it('tells a buzzer driven by pwm needs its channel', () => {
    const parsed = IoConfig.safeParse({ plugin: 'gpiod', gpiod: { buzzer: { drive: 'pwm' } } });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('needs its channel');
  });
});
