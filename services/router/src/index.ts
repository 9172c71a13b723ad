export { type RouterConfig, routerConfigSchema } from './config.js';
export { RouterErrorCodes } from './errors.js';
export { type RouterDeps, type RunningRouter, startRouter } from './service.js';
