export { compileSchema } from './compile.js';
export { eventDataProblem } from './event-data.js';
export { IdentifierJson, jsonSchemaOf } from './identifier.js';
