export { type DeviceAccount, type DeviceAccounts, unmanagedAccounts } from './accounts.js';
export { type BrokerPrincipal, deviceTopics, mayPublish, maySubscribe } from './acl.js';
export { publishToDevice } from './delivery.js';
export { type BrokerRefusals, EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded.js';
export {
  externalDeviceAccounts,
  NatsDeviceAccounts,
  type NatsNode,
  natsPermissions,
  natsSubject,
} from './nats.js';
