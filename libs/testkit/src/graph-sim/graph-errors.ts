/** The `error` object of a Graph API error response, without `fbtrace_id`, which the server adds. */
export interface GraphErrorFields {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  is_transient?: boolean;
}

/** A Graph API error and the HTTP status it is sent with. */
export interface GraphFailure {
  status: number;
  error: GraphErrorFields;
}

export interface GraphFailureOptions {
  subcode?: number;
  type?: string;
  status?: number;
}

// Messages for codes that tests inject as faults; any other code gets a generic message.
const DEFAULT_MESSAGES: Record<number, string> = {
  1: 'An unknown error occurred',
  2: 'An unexpected error has occurred. Please retry your request later.',
  4: '(#4) Application request limit reached',
  10: '(#10) Application does not have permission for this action',
  17: '(#17) User request limit reached',
  32: '(#32) Page request limit reached',
  100: '(#100) Invalid parameter',
  190: 'Error validating access token',
  200: '(#200) Permissions error',
  368: 'The action attempted has been deemed abusive or is otherwise disallowed',
  551: 'This person isn’t available right now.',
  613: '(#613) Calls to this api have exceeded the rate limit.',
  80002:
    '(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.',
  80006:
    '(#80006) There have been too many messaging requests to this Instagram account. Wait a bit and try again.',
};

const TRANSIENT_CODES = new Set([1, 2]);

/**
 * Builds a Graph API error. The HTTP status defaults to 500 for the transient codes 1 and 2 and to
 * 400 for every other code. Callers must decide on `code` and `error_subcode`, never on the status.
 */
export function graphFailure(
  code: number,
  message?: string,
  options: GraphFailureOptions = {},
): GraphFailure {
  const error: GraphErrorFields = {
    message: message ?? DEFAULT_MESSAGES[code] ?? `(#${code}) Simulated Graph API error`,
    type: options.type ?? 'OAuthException',
    code,
  };
  if (options.subcode !== undefined) error.error_subcode = options.subcode;
  if (TRANSIENT_CODES.has(code)) error.is_transient = true;

  return { status: options.status ?? (TRANSIENT_CODES.has(code) ? 500 : 400), error };
}

/** The errors the simulator raises by itself, as opposed to injected faults. */
export const GraphErrors = {
  /** Missing access token: Meta returns code 2500 for `/me` and 104 for other paths. */
  tokenMissing(path: 'me' | 'other'): GraphFailure {
    if (path === 'me') {
      return graphFailure(
        2500,
        'An active access token must be used to query information about the current user.',
      );
    }
    return graphFailure(104, 'An access token is required to request this resource.');
  },

  tokenUnknown(): GraphFailure {
    return graphFailure(190, 'Invalid OAuth access token - Cannot parse access token');
  },

  tokenInvalidated(): GraphFailure {
    return graphFailure(
      190,
      'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
      { subcode: 460 },
    );
  },

  tokenExpired(expiresAtSeconds: number): GraphFailure {
    const expiredAt = new Date(expiresAtSeconds * 1000).toISOString();
    return graphFailure(
      190,
      `Error validating access token: Session has expired on ${expiredAt}.`,
      {
        subcode: 463,
      },
    );
  },

  tokenForOtherAccount(igBusinessId: string): GraphFailure {
    return graphFailure(
      190,
      `Error validating access token: the token does not belong to Instagram account ${igBusinessId}.`,
    );
  },

  objectNotFound(id: string, method: 'get' | 'post'): GraphFailure {
    return graphFailure(
      100,
      `Unsupported ${method} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      { subcode: 33, type: 'GraphMethodException' },
    );
  },

  unknownPath(path: string): GraphFailure {
    return graphFailure(2500, `Unknown path components: ${path}`);
  },

  invalidParameter(message: string): GraphFailure {
    return graphFailure(100, `(#100) ${message}`);
  },

  nonexistingField(field: string, nodeType: string): GraphFailure {
    return graphFailure(
      100,
      `(#100) Tried accessing nonexisting field (${field}) on node type (${nodeType})`,
    );
  },

  rateLimited(): GraphFailure {
    return graphFailure(613);
  },
};
