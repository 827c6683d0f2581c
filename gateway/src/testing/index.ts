export {
  type MockCard,
  type MockCardFault,
  MockPcscBinding,
  mockUidCard,
} from '../readers/pcsc/mock-binding.js';
export { type LibraryStores, openLibraryStores } from '../stations/library/testing.js';
export {
  type CirculationRecord,
  makeTestCertificate,
  type ReceivedMessage,
  type Sip2Faults,
  type Sip2ServerOptions,
  type Sip2TestServer,
  startSip2Server,
  type TestItem,
  type TestPatron,
} from './sip2-server.js';
export { trialReleaseRoot } from './update-root.js';
