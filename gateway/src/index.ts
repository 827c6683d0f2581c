export * from './catalogue/index.js';
export * from './clock/index.js';
export * from './config/index.js';
export * from './control/index.js';
export * from './events/index.js';
export * from './hotlist/index.js';
export * from './identity/index.js';
export * from './io/index.js';
export * from './journal/index.js';
export * from './log/index.js';
export * from './metrics/index.js';
export * from './page-server/index.js';
export * from './policy/index.js';
export * from './readers/index.js';
export * from './roster/index.js';
export * from './runtime/index.js';
export {
  libraryBackendFor,
  Sip2Backend,
  Sip2Client,
  Sip2Config,
  Sip2Error,
  Sip2LoginRefused,
  Sip2Unavailable,
} from './sip2/index.js';
export * from './stations/index.js';
export * from './terminals/index.js';
export * from './updates/index.js';
export * from './uplink/index.js';
