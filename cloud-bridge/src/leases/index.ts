export * from './duties.js';
export * from './lease.js';
