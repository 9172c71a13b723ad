export * from './token-crypto.js';
