export type { PcscBinding, PcscCard, PcscDevices } from './pcsc/binding.js';
export { type PcscDriverOptions, PcscReaderDriver } from './pcsc/driver.js';
export {
  type CardRead,
  classifyAtr,
  type Presented,
  readCard,
  readTag,
  type TagRead,
  type Transmit,
} from './pcsc/profile.js';
export { CARD_FAULTS, presentSimulated, SimulatedCard, simulatedCpuCard } from './simulated/card.js';
export { SimulatedReaderDriver } from './simulated/driver.js';
export { playScript, playScriptFile, runStep, ScriptStep } from './simulated/script.js';
export type { CardPresented, ReaderDriver, ReaderEvents, ReaderStatus, TagPresented } from './types.js';
