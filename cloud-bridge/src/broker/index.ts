export { mayPublish, maySubscribe, type Principal } from './acl.js';
export { EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded.js';
