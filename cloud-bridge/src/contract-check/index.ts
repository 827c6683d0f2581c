export { compileSchema } from './compile.js';
export { eventDataProblem } from './event-data.js';
