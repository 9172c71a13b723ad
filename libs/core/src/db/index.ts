export * from './account-changes.js';
export * from './connection.js';
export { ACCOUNT_CHANGES_CHANNEL } from './migrations/002_account_notify.js';
export * from './migrator.js';
export * from './schema.js';
