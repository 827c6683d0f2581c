export * from './broker/index.js';
export * from './config/index.js';
export * from './devices/index.js';
export * from './http/index.js';
export * from './ingest/index.js';
export * from './roster/index.js';
export * from './runtime/index.js';
export * from './store/index.js';
