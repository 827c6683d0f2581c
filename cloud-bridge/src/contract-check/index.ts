export { compileSchema } from './compile.js';
export { eventDataProblem } from './event-data.js';
export { IdentifierJson } from './identifier.js';
