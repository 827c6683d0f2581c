export { compileSchema } from './compile.js';
export { eventDataProblem } from './event-data.js';
export { ClassJson, IdentifierJson, jsonSchemaOf } from './identifier.js';
export { type RouteSchemas, type RouteTypes, routeSchema } from './route-schema.js';
