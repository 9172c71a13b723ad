import { GraphError } from '@ig-router/core';
import {
  flagOption,
  integerOption,
  type ParsedCommand,
  requiredOption,
  stringOption,
} from '../args.js';
import {
  AUTH_REASON,
  closedCircuitState,
  loadCircuitStates,
  writeCircuitState,
} from '../circuit-state.js';
import { type CommandGroup, jsonOption } from '../command.js';
import { cliMetaAppSchema } from '../config.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCodes, type ExitCode, ExitCodes, UsageError } from '../errors.js';
import { formatTable, printJson, printLine, printNote } from '../io.js';
import { DEFAULT_SUBSCRIBED_FIELDS, graphFailureReason, onboardAccount } from '../onboarding.js';
import {
  type AccountSummary,
  assertSameClient,
  findAccount,
  listAccounts,
  listAccountsWithTokens,
  requireAccount,
  requireClient,
  setAccountActive,
  storeToken,
  upsertActiveAccount,
  validateClientId,
  validateIgBusinessId,
} from '../store.js';
import { checkAccountToken, type TokenCheck } from '../token-check.js';
import { readTokenFromStdin } from '../token-input.js';

const DAY_MS = 86_400_000;

const tokenStdinOption = {
  type: 'boolean',
  required: true,
  description:
    'Read the Page access token from standard input. Tokens are never accepted as arguments, which show in process lists and shell history.',
} as const;

const accountIdPositional = {
  name: 'IG_BUSINESS_ID',
  description: 'Instagram professional account id (digits).',
  required: true,
};

function accountRow(account: AccountSummary) {
  return {
    ig_business_id: account.ig_business_id,
    client_id: account.client_id,
    username: account.username,
    page_id: account.page_id,
    active: account.active,
    token_expires_at: account.token_expires_at?.toISOString() ?? null,
    created_at: account.created_at.toISOString(),
    updated_at: account.updated_at.toISOString(),
  };
}

function accountIdArgument(parsed: ParsedCommand): string {
  return validateIgBusinessId(parsed.positionals[0] ?? '', 'IG_BUSINESS_ID');
}

function parseFields(parsed: ParsedCommand): string[] {
  const text = stringOption(parsed, 'fields');
  if (text === undefined) return DEFAULT_SUBSCRIBED_FIELDS;
  const fields = text
    .split(',')
    .map((field) => field.trim())
    .filter((field) => field !== '');
  if (fields.length === 0 || fields.some((field) => !/^[a-z_]+$/.test(field))) {
    throw new UsageError(
      `--fields ${JSON.stringify(text)} is invalid; expected comma-separated Page webhook fields such as messages,messaging_postbacks.`,
    );
  }
  return fields;
}

async function setActive(
  ctx: CommandContext,
  parsed: ParsedCommand,
  active: boolean,
): Promise<ExitCode> {
  const igBusinessId = accountIdArgument(parsed);
  const { db } = ctx.database();
  const account = await requireAccount(db, igBusinessId);
  const changed = await setAccountActive(db, igBusinessId, active);
  const state = active ? 'active' : 'inactive';
  if (changed) {
    ctx
      .logger()
      .info(
        { ig_business_id: igBusinessId, client_id: account.client_id, active },
        'account active flag changed',
      );
  }

  if (flagOption(parsed, 'json')) {
    await printJson(ctx.io, { ig_business_id: igBusinessId, active, changed });
  } else {
    await printLine(
      ctx.io,
      changed
        ? `account ${igBusinessId} (@${account.username}) is now ${state}`
        : `account ${igBusinessId} (@${account.username}) was already ${state}`,
    );
  }
  if (changed && !active) {
    await printNote(
      ctx.io,
      'Routers and senders drop the account within seconds (PostgreSQL NOTIFY); its new webhooks go to ig.events.unrouted.',
    );
  }
  return ExitCodes.OK;
}

/**
 * Writes a closed state when the account's circuit is open because of an auth error (Graph code
 * 190). Returns what it did, for the command's output.
 */
async function closeAuthCircuit(
  ctx: CommandContext,
  igBusinessId: string,
): Promise<'closed' | 'not_open_for_auth'> {
  const { kafka, topics } = ctx.kafka();
  const admin = await ctx.admin();
  const snapshot = await loadCircuitStates(kafka, admin, topics.circuit, {
    onlyKey: igBusinessId,
    signal: ctx.io.signal,
  });
  const current = snapshot.states.get(igBusinessId);
  if (!current || current.state === 'closed' || current.reason !== AUTH_REASON) {
    return 'not_open_for_auth';
  }
  await writeCircuitState(kafka, topics.circuit, closedCircuitState(igBusinessId));
  ctx
    .logger()
    .info(
      { ig_business_id: igBusinessId, topic: topics.circuit },
      'auth circuit closed after token rotation',
    );
  return 'closed';
}

export const accountsGroup: CommandGroup = {
  name: 'accounts',
  summary:
    'Onboard, list, activate and deactivate Instagram accounts; rotate and check their tokens.',
  commands: [
    {
      spec: {
        name: 'accounts onboard',
        summary: 'Onboard the Instagram account of a Page access token read from stdin.',
        details:
          'Steps: check the client; resolve the Instagram account linked to the Page (GET /me?fields=instagram_business_account); confirm the token reads it (GET /{ig_business_id}?fields=id,username); encrypt the token with KMS; subscribe the Page to the app (POST /{page_id}/subscribed_apps); store the account as active. A failure names its step, and nothing is stored unless every step succeeds. Running it again for the same client updates the token and username.',
        options: {
          client: {
            type: 'string',
            valueName: 'ID',
            required: true,
            description: 'Client id (UUID) that will own the account.',
          },
          'token-stdin': tokenStdinOption,
          fields: {
            type: 'string',
            valueName: 'LIST',
            description: 'Comma-separated Page webhook fields to subscribe.',
            default: DEFAULT_SUBSCRIBED_FIELDS.join(','),
          },
          json: jsonOption,
        },
        examples: [
          'igr accounts onboard --client 3f0c...-uuid --token-stdin < page-token.txt',
          'pbpaste | igr accounts onboard --client 3f0c...-uuid --token-stdin --json',
        ],
      },
      async run(ctx, parsed) {
        const clientId = validateClientId(requiredOption(parsed, 'client'));
        const subscribedFields = parseFields(parsed);
        const token = await readTokenFromStdin(ctx.io);

        const result = await onboardAccount(
          {
            db: ctx.database().db,
            graph: ctx.graph(),
            crypto: ctx.tokenCrypto(),
            logger: ctx.logger(),
            report: (line) => printNote(ctx.io, line),
          },
          { clientId, token, subscribedFields },
        );

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, { ...result, active: true });
        } else {
          await printLine(
            ctx.io,
            `onboarded account ${result.ig_business_id} (@${result.username}), Page ${result.page_id}, client ${result.client_id}: ${result.created ? 'created' : 'updated'}, active`,
          );
        }
        return ExitCodes.OK;
      },
    },
    {
      spec: {
        name: 'accounts add',
        summary: 'Store an account and its token without any Graph API call, for migrations.',
        details:
          'Use onboard for new accounts: add neither checks the token nor subscribes the Page. Running it again for the same client replaces the token and username and sets the account active.',
        options: {
          client: {
            type: 'string',
            valueName: 'ID',
            required: true,
            description: 'Client id (UUID) that owns the account.',
          },
          'ig-id': {
            type: 'string',
            valueName: 'ID',
            required: true,
            description: 'Instagram professional account id (digits).',
          },
          username: {
            type: 'string',
            valueName: 'NAME',
            required: true,
            description: 'Instagram username, without @.',
          },
          'page-id': {
            type: 'string',
            valueName: 'ID',
            description: 'Facebook Page id (digits) linked to the account.',
          },
          'token-stdin': tokenStdinOption,
          json: jsonOption,
        },
        examples: [
          'igr accounts add --client 3f0c...-uuid --ig-id 17841400000000001 --username acme --token-stdin < token.txt',
        ],
      },
      async run(ctx, parsed) {
        const clientId = validateClientId(requiredOption(parsed, 'client'));
        const igBusinessId = validateIgBusinessId(requiredOption(parsed, 'ig-id'), '--ig-id');
        const username = requiredOption(parsed, 'username').replace(/^@/, '');
        const pageIdText = stringOption(parsed, 'page-id');
        const pageId =
          pageIdText === undefined ? null : validateIgBusinessId(pageIdText, '--page-id');
        const token = await readTokenFromStdin(ctx.io);

        const { db } = ctx.database();
        await requireClient(db, clientId);
        assertSameClient(await findAccount(db, igBusinessId), clientId);
        const sealed = await ctx
          .tokenCrypto()
          .encrypt({ ig_business_id: igBusinessId, client_id: clientId }, token);
        const { created } = await upsertActiveAccount(db, {
          ig_business_id: igBusinessId,
          client_id: clientId,
          username,
          page_id: pageId,
          sealed,
        });
        ctx
          .logger()
          .info({ ig_business_id: igBusinessId, client_id: clientId, created }, 'account added');

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, {
            ig_business_id: igBusinessId,
            client_id: clientId,
            username,
            page_id: pageId,
            active: true,
            created,
          });
        } else {
          await printLine(
            ctx.io,
            `${created ? 'added' : 'updated'} account ${igBusinessId} (@${username}) for client ${clientId}, active`,
          );
        }
        return ExitCodes.OK;
      },
    },
    {
      spec: {
        name: 'accounts list',
        summary: 'List accounts (never their tokens).',
        options: {
          client: {
            type: 'string',
            valueName: 'ID',
            description: 'Only the accounts of this client id (UUID).',
          },
          json: jsonOption,
        },
        examples: ['igr accounts list', 'igr accounts list --client 3f0c...-uuid --json'],
      },
      async run(ctx, parsed) {
        const clientText = stringOption(parsed, 'client');
        const clientId = clientText === undefined ? undefined : validateClientId(clientText);
        const { db } = ctx.database();
        if (clientId) await requireClient(db, clientId);
        const accounts = await listAccounts(db, clientId);

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, accounts.map(accountRow));
          return ExitCodes.OK;
        }
        if (accounts.length === 0) {
          await printNote(
            ctx.io,
            'No accounts. Onboard one with igr accounts onboard --client ID --token-stdin.',
          );
          return ExitCodes.OK;
        }
        await printLine(
          ctx.io,
          formatTable(
            ['IG_BUSINESS_ID', 'USERNAME', 'CLIENT_ID', 'PAGE_ID', 'ACTIVE', 'UPDATED_AT'],
            accounts.map((account) => [
              account.ig_business_id,
              account.username,
              account.client_id,
              account.page_id ?? '-',
              account.active ? 'yes' : 'no',
              account.updated_at.toISOString(),
            ]),
          ),
        );
        return ExitCodes.OK;
      },
    },
    {
      spec: {
        name: 'accounts deactivate',
        summary: 'Stop routing and sending for an account; its webhooks go to ig.events.unrouted.',
        options: { json: jsonOption },
        positionals: [accountIdPositional],
        examples: ['igr accounts deactivate 17841400000000001'],
      },
      run: (ctx, parsed) => setActive(ctx, parsed, false),
    },
    {
      spec: {
        name: 'accounts activate',
        summary: 'Resume routing and sending for a deactivated account.',
        options: { json: jsonOption },
        positionals: [accountIdPositional],
        examples: ['igr accounts activate 17841400000000001'],
      },
      run: (ctx, parsed) => setActive(ctx, parsed, true),
    },
    {
      spec: {
        name: 'accounts rotate-token',
        summary: 'Replace the token of an account with one read from stdin.',
        details:
          'The new token must read the account on the Graph API (GET /{ig_business_id}?fields=id,username) unless --skip-graph-check is given. When the account circuit in ig.circuit is open because of an auth error (Graph code 190), a closed state is written so the sender resumes.',
        options: {
          'token-stdin': tokenStdinOption,
          'skip-graph-check': {
            type: 'boolean',
            description: 'Store the token without checking it on the Graph API.',
          },
          json: jsonOption,
        },
        positionals: [accountIdPositional],
        examples: ['igr accounts rotate-token 17841400000000001 --token-stdin < new-token.txt'],
      },
      async run(ctx, parsed) {
        const igBusinessId = accountIdArgument(parsed);
        const token = await readTokenFromStdin(ctx.io);
        const { db } = ctx.database();
        const account = await requireAccount(db, igBusinessId);

        if (!flagOption(parsed, 'skip-graph-check')) {
          let readId: string;
          try {
            readId = (await ctx.graph().getAccount(igBusinessId, token)).data.id;
          } catch (err) {
            if (!(err instanceof GraphError)) throw err;
            throw new CliError(
              CliErrorCodes.GRAPH_CHECK_FAILED,
              `the new token cannot read account ${igBusinessId}, so it was not stored: ${graphFailureReason(err)}`,
              { cause: err },
            );
          }
          if (readId !== igBusinessId) {
            throw new CliError(
              CliErrorCodes.GRAPH_CHECK_FAILED,
              `the new token reads account ${readId}, not ${igBusinessId}, so it was not stored; pipe in the token of this account's Page`,
            );
          }
        }

        const sealed = await ctx
          .tokenCrypto()
          .encrypt({ ig_business_id: igBusinessId, client_id: account.client_id }, token);
        await storeToken(db, igBusinessId, account.client_id, sealed);
        ctx
          .logger()
          .info({ ig_business_id: igBusinessId, client_id: account.client_id }, 'token rotated');
        await printNote(ctx.io, `token of account ${igBusinessId} (@${account.username}) replaced`);

        let circuit: 'closed' | 'not_open_for_auth';
        try {
          circuit = await closeAuthCircuit(ctx, igBusinessId);
        } catch (err) {
          throw new CliError(
            CliErrorCodes.OUTPUT_FAILED,
            `the token was stored, but checking the account circuit failed: ${(err as Error).message}; run igr circuit list, and igr circuit reset ${igBusinessId} if it is open`,
            { cause: err },
          );
        }

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, { ig_business_id: igBusinessId, token_replaced: true, circuit });
        } else {
          await printLine(
            ctx.io,
            circuit === 'closed'
              ? `token replaced for ${igBusinessId}; the circuit opened by an auth error is now closed`
              : `token replaced for ${igBusinessId}; no circuit was open for an auth error`,
          );
        }
        return ExitCodes.OK;
      },
    },
    {
      spec: {
        name: 'accounts check',
        summary: 'Check token validity and expiry with Graph debug_token.',
        details:
          'Checks every active account, or the one given. Exit code 0: every token is valid and expires after the warning period. 2: a token is invalid, expires within the warning period, belongs to another app or lacks a messaging permission. 1: a check could not run (KMS or Graph failed). Needs META_APP_ID and META_APP_SECRET for the app access token.',
        options: {
          'warn-days': {
            type: 'string',
            valueName: 'DAYS',
            description: 'Report tokens that expire within this many days.',
            default: '7',
          },
          client: {
            type: 'string',
            valueName: 'ID',
            description: 'Only the accounts of this client id (UUID).',
          },
          all: { type: 'boolean', description: 'Also check inactive accounts.' },
          json: jsonOption,
        },
        positionals: [{ ...accountIdPositional, required: false }],
        examples: [
          'igr accounts check',
          'igr accounts check 17841400000000001 --json',
          'igr accounts check --warn-days 14',
        ],
      },
      async run(ctx, parsed) {
        const igBusinessId =
          parsed.positionals[0] === undefined ? undefined : accountIdArgument(parsed);
        const warnDays = integerOption(parsed, 'warn-days', { min: 0, max: 3650 }) ?? 7;
        const clientText = stringOption(parsed, 'client');
        const clientId = clientText === undefined ? undefined : validateClientId(clientText);
        const app = ctx.settings(cliMetaAppSchema);
        const { db } = ctx.database();

        if (igBusinessId) await requireAccount(db, igBusinessId);
        if (clientId) await requireClient(db, clientId);
        const accounts = await listAccountsWithTokens(db, {
          ...(igBusinessId ? { igBusinessId } : {}),
          ...(clientId ? { clientId } : {}),
          includeInactive: flagOption(parsed, 'all') || igBusinessId !== undefined,
        });
        const crypto = ctx.tokenCrypto();
        const graph = ctx.graph();
        const settings = {
          appToken: `${app.META_APP_ID}|${app.META_APP_SECRET}`,
          appId: app.META_APP_ID,
          warnWithinMs: warnDays * DAY_MS,
          now: Date.now(),
        };

        const checks: TokenCheck[] = [];
        for (const account of accounts) {
          if (ctx.io.signal.aborted) break;
          const check = await checkAccountToken(account, crypto, graph, settings);
          if (check.status !== 'ok') {
            ctx.logger().warn(
              {
                ig_business_id: check.ig_business_id,
                client_id: check.client_id,
                status: check.status,
              },
              'token check needs attention',
            );
          }
          checks.push(check);
        }

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, checks);
        } else if (checks.length === 0) {
          await printNote(ctx.io, 'No accounts to check.');
        } else {
          await printLine(
            ctx.io,
            formatTable(
              ['IG_BUSINESS_ID', 'USERNAME', 'STATUS', 'EXPIRES_AT', 'DETAIL'],
              checks.map((check) => [
                check.ig_business_id,
                check.username,
                check.status,
                check.status === 'error' ? '-' : (check.expires_at ?? 'never'),
                check.detail,
              ]),
            ),
          );
        }

        if (checks.some((check) => check.status === 'error')) return ExitCodes.FAILURE;
        if (checks.some((check) => check.status !== 'ok')) return ExitCodes.ATTENTION;
        return ExitCodes.OK;
      },
    },
  ],
};
