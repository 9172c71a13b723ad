export * from './event-id.js';
export * from './event-v1.js';
export * from './json.js';
export * from './json-schema.js';
export * from './meta-webhook.js';
export * from './records.js';
export * from './split.js';
export type { FieldIssue } from './zod-issues.js';
export { describeIssues, formatIssuePath, formatIssues } from './zod-issues.js';
