import { TestkitError } from '../errors.js';
import type { ParsedBody } from './http.js';
import type { AccountInput, FaultInput } from './schemas.js';
import { publicAccount, type SimulatorState } from './state.js';

/** Response of a control endpoint. */
export interface ControlResponse {
  status: number;
  body: unknown;
}

function controlError(status: number, message: string): ControlResponse {
  return { status, body: { error: { message, type: 'SimulatorControlException', code: 100 } } };
}

/**
 * Handles the `/_sim/...` control endpoints that tests and demos use to set up accounts and
 * faults and to read what the simulator received.
 */
export function handleControl(
  state: SimulatorState,
  method: string,
  pathname: string,
  query: URLSearchParams,
  body: ParsedBody,
): ControlResponse {
  const route = `${method} ${pathname.replace(/\/+$/, '')}`;
  if (!body.ok) return controlError(400, 'the request body is not valid JSON');
  const input = body.value;

  try {
    switch (route) {
      case 'POST /_sim/accounts':
        return { status: 201, body: publicAccount(state.registerAccount(input as AccountInput)) };
      case 'GET /_sim/accounts':
        return { status: 200, body: { accounts: state.accounts() } };
      case 'POST /_sim/faults':
        return { status: 201, body: state.addFault(input as FaultInput) };
      case 'GET /_sim/faults':
        return { status: 200, body: { faults: state.faults() } };
      case 'DELETE /_sim/faults':
        return { status: 200, body: { deleted: state.clearFaults() } };
      case 'GET /_sim/requests': {
        const igBusinessId = query.get('ig_business_id') ?? undefined;
        return {
          status: 200,
          body: {
            requests: state.requests({ ig_business_id: igBusinessId }),
            dropped_from_log: state.requestsDroppedFromLog(),
          },
        };
      }
      case 'DELETE /_sim/requests':
        state.clearRequests();
        return { status: 200, body: { success: true } };
      case 'GET /_sim/subscriptions':
        return { status: 200, body: { subscriptions: state.subscriptions() } };
      case 'GET /_sim/violations':
        return { status: 200, body: { violations: state.violations() } };
      case 'POST /_sim/reset':
        state.reset();
        return { status: 200, body: { success: true } };
      default:
        return controlError(404, `no control endpoint ${route}; see libs/testkit/README.md`);
    }
  } catch (error) {
    if (error instanceof TestkitError) return controlError(400, error.message);
    throw error;
  }
}
