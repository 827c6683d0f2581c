export { mayPublish, maySubscribe, requestStation, type TerminalPrincipal } from './acl.js';
export { TerminalEntry, TerminalsConfig, type TerminalsConfigInput } from './config.js';
export { passwordMatches, passwordSha256, terminalCredential } from './credentials.js';
export { MAX_REQUEST_BYTES, TerminalHub, type TerminalHubOptions } from './hub.js';
export { BrokerListeners, type ConnectionHandler } from './listeners.js';
