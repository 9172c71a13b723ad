export * from './errors.js';
export {
  type GraphErrorFields,
  type GraphFailure,
  graphFailure,
} from './graph-sim/graph-errors.js';
export {
  type AccountInput,
  DEFAULT_SCOPES,
  type FaultInput,
  type FaultSpec,
  type SimAccount,
} from './graph-sim/schemas.js';
export { MAX_TEXT_BYTES } from './graph-sim/send.js';
export {
  type GraphSimulator,
  type GraphSimulatorOptions,
  startGraphSimulator,
} from './graph-sim/server.js';
export {
  type FaultRecord,
  type PublicAccount,
  type SendRequestRecord,
  SimulatorState,
  type SubscriptionRecord,
  tokenFingerprint,
  type ViolationRecord,
} from './graph-sim/state.js';
export * from './meta-json.js';
export * from './payloads.js';
export * from './signer.js';
