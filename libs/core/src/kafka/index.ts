export * from './client.js';
export * from './readiness.js';
export * from './topics.js';
