export { blocksOf, refusalOf, Sip2Backend, type Sip2BackendOptions } from './backend.js';
export {
  type AcsStatus,
  type CheckinRequest,
  type CheckinResult,
  type CheckoutRequest,
  type CheckoutResult,
  type CirculationResult,
  type ItemInformation,
  type PatronFlag,
  type PatronInformation,
  type RenewRequest,
  type RenewResult,
  type Sip2Answer,
  Sip2Client,
  type Sip2ClientOptions,
  type Sip2Operation,
} from './client.js';
export {
  checksum,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FIELD,
  FIXED_FIELDS,
  FrameReader,
  fieldOf,
  fieldsOf,
  RESPONSE_CODE,
  type Sip2Code,
  type Sip2Encoding,
  type Sip2Message,
} from './codec.js';
export { Sip2Config, type Sip2ConfigInput } from './config.js';
export { formatSipDate, parseDueDate, parseSipDate } from './dates.js';
export {
  Sip2ChecksumError,
  Sip2Error,
  Sip2LoginRefused,
  Sip2ParseError,
  Sip2Unavailable,
  type Sip2UnavailableReason,
} from './errors.js';
export { ReplayCursor } from './replay.js';
