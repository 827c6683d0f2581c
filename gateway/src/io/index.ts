export {
  GateActuators,
  type GateActuatorsDeps,
  type GateIoEvents,
  type GateIoStatus,
  type InputState,
} from './actuators.js';
export { recordingIoFor } from './board.js';
export { GATE_PARTS, type GatePart, IO_TEST_PARTS, IoConfig, type IoTestPart } from './config.js';
export {
  GPIO_CONSUMER,
  GpiodIO,
  type GpioLineStatus,
  PI_HEADER_LINES,
  RecordingGpioBinding,
} from './gpiod/index.js';
export { BEEPS, type BeepName, type BeepPattern, DENY_LED_MS } from './patterns.js';
export { type PinWrite, RECORDING_BOARD_PINS, RecordingIO } from './recording-io.js';
