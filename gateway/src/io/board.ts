import five from 'johnny-five';
import type { Logger } from '../log/index.js';
import { activeLevelOf, INPUT_PARTS, type IoConfig } from './config.js';
import { GpiodIO, loadLibgpiod } from './gpiod/index.js';
import { RecordingIO } from './recording-io.js';

const READY_TIMEOUT_MS = 15_000;

/**
 * A recording IO plugin wired as the config says: the door contact resting closed, the exit button
 * released, the emergency release and the lockdown switch at rest, so that none reads as active the
 * moment the board starts.
 */
export function recordingIoFor(config: IoConfig): RecordingIO {
  const idle: Record<number, 0 | 1> = {};
  for (const part of INPUT_PARTS) {
    const pin = config.pins[part];
    if (typeof pin === 'number') idle[pin] = activeLevelOf(config, part) === 'high' ? 0 : 1;
  }
  return new RecordingIO(idle);
}

/** Makes the IO plugin the config names; node-libgpiod and raspi-io are optional and loaded only when asked for. */
async function makeIo(config: IoConfig, logger: Logger): Promise<unknown> {
  switch (config.plugin) {
    case 'recording':
      return recordingIoFor(config);
    case 'gpiod':
      return GpiodIO.open({ config, binding: loadLibgpiod(), logger });
    case 'firmata':
      // johnny-five speaks Firmata itself when given a port and no IO plugin.
      return undefined;
    case 'raspi': {
      const name = 'raspi-io';
      let module: { RaspiIO?: new () => unknown; default?: new () => unknown };
      try {
        module = (await import(name)) as typeof module;
      } catch {
        throw new Error(
          'the raspi IO plugin needs the raspi-io package: on the Raspberry Pi run "npm install raspi-io"',
        );
      }
      const RaspiIO = module.RaspiIO ?? module.default;
      if (!RaspiIO) throw new Error('raspi-io is installed but exports no RaspiIO class');
      return new RaspiIO();
    }
  }
}

/** A ready johnny-five board on the configured IO plugin. */
export async function openBoard(config: IoConfig, logger: Logger, io?: unknown): Promise<five.Board> {
  const plugin = io ?? (await makeIo(config, logger));
  const board = new five.Board({
    ...(plugin ? { io: plugin } : { port: config.port as string }),
    repl: false,
    debug: false,
    sigint: false,
    timeout: READY_TIMEOUT_MS,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`IO board (${config.plugin}) not ready after ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    board.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
    board.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(new Error(`IO board (${config.plugin}) failed: ${error.message}`));
    });
  });
  return board;
}
