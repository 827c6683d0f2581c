export { callGateway, GatewayUnreachable, watchGateway } from './client.js';
export { type ControlReply, ControlRequest } from './protocol.js';
export { type ControlHandler, ControlServer, type ControlStream } from './server.js';
export { socketAnswers } from './socket.js';
