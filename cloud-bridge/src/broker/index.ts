export { type BrokerPrincipal, mayPublish, maySubscribe } from './acl.js';
export { EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded.js';
