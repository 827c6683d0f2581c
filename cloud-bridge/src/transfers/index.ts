export { transferRoutes } from './http.js';
export { membershipAt, type Transfer, TransferLog } from './log.js';
export { type TransferRequest, transferDateProblem } from './request.js';
