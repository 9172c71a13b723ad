import {
  type Database,
  type EncryptedToken,
  type GraphClient,
  GraphError,
  type Logger,
  type TokenCrypto,
} from '@ig-router/core';
import type { Kysely } from 'kysely';
import { CliError, CliErrorCodes } from './errors.js';
import { assertSameClient, findAccount, requireClient, upsertActiveAccount } from './store.js';

/**
 * Page fields subscribed by default. Meta delivers a webhook only for fields subscribed both on
 * the Page and in the app's webhook settings, so this list covers every messaging event the
 * router normalizes.
 */
// NOTE: chosen from Meta's Messenger Platform Page field names; Instagram accounts may need
// only a subset. Override with --fields when Meta rejects a field.
export const DEFAULT_SUBSCRIBED_FIELDS = [
  'messages',
  'messaging_postbacks',
  'messaging_optins',
  'messaging_referrals',
  'messaging_handovers',
  'message_reactions',
  'standby',
];

export interface OnboardingDependencies {
  db: Kysely<Database>;
  graph: GraphClient;
  crypto: TokenCrypto;
  logger: Logger;
  /** Receives one line per finished step, for the operator. */
  report(line: string): Promise<void>;
}

export interface OnboardingInput {
  clientId: string;
  token: string;
  subscribedFields: string[];
}

export interface OnboardingResult {
  ig_business_id: string;
  username: string;
  page_id: string;
  client_id: string;
  created: boolean;
  subscribed_fields: string[];
}

const TOTAL_STEPS = 6;

/**
 * Onboards the Instagram account linked to a Page token: checks the client, resolves the
 * account from the token, confirms the token reads it, seals the token with KMS, subscribes
 * the Page to the app and upserts the account as active. Every failure names its step. Only
 * the last two steps change anything, and if the database write fails after the Page was
 * subscribed, the subscription stays (webhooks of that account then go to
 * `ig.events.unrouted` until the command succeeds).
 */
export async function onboardAccount(
  deps: OnboardingDependencies,
  input: OnboardingInput,
): Promise<OnboardingResult> {
  const client = await step(1, 'check the client', () => requireClient(deps.db, input.clientId));
  await deps.report(`[1/${TOTAL_STEPS}] client ${client.client_id} (${client.name}) found`);

  const page = await step(2, 'resolve the Instagram account from the Page token', () =>
    deps.graph.getInstagramAccountForPage(input.token),
  );
  const pageId = page.data.page_id;
  const igBusinessId = page.data.ig_business_id;
  if (igBusinessId === null) {
    throw failure(
      2,
      'resolve the Instagram account from the Page token',
      `Page ${pageId} has no Instagram professional account linked; link one to the Page in Meta Business Suite, then run the command again`,
    );
  }
  assertSameClient(await findAccount(deps.db, igBusinessId), client.client_id);
  await deps.report(
    `[2/${TOTAL_STEPS}] Page ${pageId} is linked to Instagram account ${igBusinessId}`,
  );

  const account = await step(3, `read Instagram account ${igBusinessId} with the token`, () =>
    deps.graph.getAccount(igBusinessId, input.token),
  );
  if (account.data.id !== igBusinessId) {
    throw failure(
      3,
      `read Instagram account ${igBusinessId} with the token`,
      `Graph returned account ${account.data.id} instead of ${igBusinessId}; check GRAPH_API_URL`,
    );
  }
  const username = account.data.username;
  await deps.report(`[3/${TOTAL_STEPS}] the token reads @${username}`);

  const sealed: EncryptedToken = await step(4, 'encrypt the token with KMS', () =>
    deps.crypto.encrypt({ ig_business_id: igBusinessId, client_id: client.client_id }, input.token),
  );
  await deps.report(`[4/${TOTAL_STEPS}] token encrypted with KMS key ${sealed.kmsKeyId}`);

  const subscription = await step(5, `subscribe Page ${pageId} to the app`, () =>
    deps.graph.subscribePage(pageId, input.token, input.subscribedFields),
  );
  if (!subscription.data.success) {
    throw failure(
      5,
      `subscribe Page ${pageId} to the app`,
      'Graph returned success: false; check that the token has pages_manage_metadata',
    );
  }
  await deps.report(
    `[5/${TOTAL_STEPS}] Page ${pageId} subscribed to ${input.subscribedFields.join(',')}`,
  );

  const { created } = await step(
    6,
    'store the account',
    () =>
      upsertActiveAccount(deps.db, {
        ig_business_id: igBusinessId,
        client_id: client.client_id,
        username,
        page_id: pageId,
        sealed,
      }),
    ' The Page stays subscribed, which is harmless: its webhooks go to ig.events.unrouted until the account is stored.',
  );
  deps.logger.info(
    { ig_business_id: igBusinessId, client_id: client.client_id, created },
    'account onboarded',
  );
  await deps.report(`[6/${TOTAL_STEPS}] account ${created ? 'created' : 'updated'} and active`);

  return {
    ig_business_id: igBusinessId,
    username,
    page_id: pageId,
    client_id: client.client_id,
    created,
    subscribed_fields: input.subscribedFields,
  };
}

function failure(stepNumber: number, what: string, reason: string): CliError {
  return new CliError(
    CliErrorCodes.ONBOARDING_FAILED,
    `onboarding step ${stepNumber}/${TOTAL_STEPS} (${what}) failed: ${reason}`,
  );
}

/**
 * Runs one step and rethrows its error with the step's number and name. CliErrors pass
 * unchanged, because they already name the next step.
 */
async function step<T>(
  stepNumber: number,
  what: string,
  run: () => Promise<T>,
  afterFailure = '',
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const reason = err instanceof GraphError ? graphFailureReason(err) : (err as Error).message;
    const error = failure(stepNumber, what, `${reason}.${afterFailure}`);
    (error as { cause?: unknown }).cause = err;
    throw error;
  }
}

/** Turns a Graph error into a reason with the next action for the operator. */
export function graphFailureReason(err: GraphError): string {
  switch (err.classification) {
    case 'auth':
      return `${err.message}; the token is invalid or expired, so generate a new Page access token and pipe it in again`;
    case 'permission':
      return `${err.message}; the token lacks a permission, so grant instagram_basic, instagram_manage_messages, pages_manage_metadata, pages_show_list and pages_read_engagement and generate a new token`;
    case 'throttled':
      return `${err.message}; Meta is rate limiting this app or Page, so wait a few minutes and run the command again`;
    case 'retryable':
      return `${err.message}; this is temporary, so run the command again`;
    default:
      return err.message;
  }
}
