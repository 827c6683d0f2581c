export type {
  ItemPresented,
  LocalGatewayState,
  StationTap,
  StationView,
  TerminalReply,
  TerminalRequest,
  TerminalRequestName,
} from '../contract/stations.js';
export {
  type ConnectionListener,
  type ProtocolError,
  type RequestArgs,
  type RequestOptions,
  TerminalClient,
  type TerminalClientOptions,
} from './client.js';
