export {
  type MockCard,
  type MockCardFault,
  MockPcscBinding,
  mockUidCard,
} from '../readers/pcsc/mock-binding.js';
export * from '../stations/library/testing.js';
