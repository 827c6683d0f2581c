export {
  type AcsStatus,
  type CheckinResult,
  type CheckoutResult,
  type CirculationResult,
  type ItemInformation,
  type PatronFlag,
  type PatronInformation,
  type RenewResult,
  readAnswer,
  readCharge,
  readCheckin,
  readCirculation,
  readItemInformation,
  readPatron,
  readStatus,
  type Sip2Answer,
  type Sip2Operation,
} from './answers.js';
export { blocksOf, refusalOf, Sip2Backend, type Sip2BackendOptions } from './backend.js';
export { Sip2Client, type Sip2ClientOptions } from './client.js';
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
export { Sip2Connection, type Sip2ConnectionOptions, type Sip2Exchange } from './connection.js';
export { formatSipDate, parseDueDate, parseSipDate } from './dates.js';
export {
  Sip2ChecksumError,
  Sip2Error,
  Sip2LoginRefused,
  Sip2ParseError,
  Sip2Unavailable,
  type Sip2UnavailableReason,
} from './errors.js';
export { libraryBackendFor } from './library-backend.js';
export {
  type CheckinRequest,
  type CheckoutRequest,
  checkinMessage,
  checkoutMessage,
  itemInformationMessage,
  loginMessage,
  type MessageContext,
  type PatronOptions,
  patronInformationMessage,
  patronStatusMessage,
  type RenewRequest,
  renewMessage,
  statusMessage,
} from './messages.js';
export { ReplayCursor } from './replay.js';
export { connectSocket, type Sip2Connect } from './socket.js';
