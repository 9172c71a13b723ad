export * from './circuit.js';
export * from './config.js';
export { OffsetTracker } from './consume-outbound.js';
export * from './errors.js';
export { RateLimiter } from './rate-limit.js';
export { type RunningSender, type SenderDeps, startSender } from './service.js';
