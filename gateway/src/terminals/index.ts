export { mayPublish, maySubscribe, requestStation, type TerminalPrincipal } from './acl.js';
export {
  MAX_REQUEST_BYTES,
  TerminalEntry,
  TerminalsConfig,
  type TerminalsConfigInput,
} from './config.js';
export { passwordMatches, passwordSha256, terminalCredential } from './credentials.js';
export { TerminalHub, type TerminalHubOptions } from './hub.js';
