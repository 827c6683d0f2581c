export {
  type GpioBinding,
  GpioError,
  type GpioErrorCode,
  type InputHandlers,
  type InputWatch,
  type LineAddress,
  type LineInfo,
  type OutputLine,
} from './binding.js';
export { type LibgpiodOptions, libgpiodToolsVersion, loadLibgpiod } from './libgpiod.js';
export { type PlannedLine, planLines, resolvePin } from './lines.js';
export { GPIO_CONSUMER, GpiodIO, type GpiodIoOptions, type GpioLineStatus, PWM_SYSFS } from './plugin.js';
export { type LineProbe, probeLines } from './probe.js';
export {
  type LineWrite,
  PI_HEADER_LINES,
  type RecordedChip,
  type RecordedRequest,
  RecordingGpioBinding,
} from './recording-binding.js';
