export { NoticesConfig, NoticeWebhook } from './config.js';
export {
  addPassage,
  type Burst,
  hasSettled,
  type Passage,
  type PassageOutcome,
} from './debounce.js';
export { noticesRoutes } from './http.js';
export { NoticeLedger } from './ledger.js';
export type {
  AbsenceNotice,
  Notice,
  OverdueBook,
  OverdueNotice,
  PassageNotice,
  RefusalNotice,
} from './notice.js';
export { forgetNoticesOf, type HeldNotice, noticesAbout } from './privacy.js';
export { type DeliveryOutcome, Notices, type NoticesDeps } from './service.js';
export { type SignatureCheck, signatureHeader, verifySignature } from './signature.js';
export type { AbsenceHold, FailedDelivery, NoticeKind, NoticeWebhookStatus } from './types.js';
