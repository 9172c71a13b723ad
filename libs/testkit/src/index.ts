export * from './harness.js';
export * from './meta.js';
