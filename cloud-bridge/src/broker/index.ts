export { type BrokerPrincipal, mayPublish, maySubscribe } from './acl.js';
export { type BrokerRefusals, EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded.js';
