import { generateApiKey } from '../api-key.js';
import { flagOption, requiredOption } from '../args.js';
import { type CommandGroup, jsonOption } from '../command.js';
import { CliError, CliErrorCodes, ExitCodes } from '../errors.js';
import { formatTable, printJson, printLine, printNote } from '../io.js';
import { isUniqueViolation } from '../store.js';

const MAX_NAME_LENGTH = 200;

export const clientsGroup: CommandGroup = {
  name: 'clients',
  summary: 'Create and list clients (the agency customers that own accounts and API keys).',
  commands: [
    {
      spec: {
        name: 'clients create',
        summary: 'Create a client and print its client id and API key.',
        details:
          'The API key authenticates the client on the /v1 send API. It is printed once and stored only as a SHA-256 hash, so it cannot be shown again; store it now.',
        options: {
          name: {
            type: 'string',
            valueName: 'NAME',
            required: true,
            description: `Client name, unique, at most ${MAX_NAME_LENGTH} characters.`,
          },
          json: jsonOption,
        },
        examples: [
          'igr clients create --name "Acme Coffee"',
          'igr clients create --name acme --json',
        ],
      },
      async run(ctx, parsed) {
        const name = requiredOption(parsed, 'name').trim();
        if (name === '' || name.length > MAX_NAME_LENGTH) {
          throw new CliError(
            CliErrorCodes.USAGE_INVALID,
            `--name must have 1 to ${MAX_NAME_LENGTH} characters; got ${name.length}.`,
            { exitCode: ExitCodes.USAGE },
          );
        }

        const { db } = ctx.database();
        const existing = await db
          .selectFrom('clients')
          .select('client_id')
          .where('name', '=', name)
          .executeTakeFirst();
        if (existing) {
          throw new CliError(
            CliErrorCodes.CLIENT_NAME_TAKEN,
            `a client named ${JSON.stringify(name)} already exists with id ${existing.client_id}; choose another name`,
          );
        }

        const key = generateApiKey();
        const row = await db
          .insertInto('clients')
          .values({ name, api_key_hash: key.hash, api_key_prefix: key.prefix })
          .returning(['client_id', 'name', 'api_key_prefix', 'created_at'])
          .executeTakeFirstOrThrow()
          .catch((err: unknown) => {
            // Another run created the same name between the check and the insert.
            if (isUniqueViolation(err)) {
              throw new CliError(
                CliErrorCodes.CLIENT_NAME_TAKEN,
                `a client named ${JSON.stringify(name)} already exists; choose another name`,
              );
            }
            throw err;
          });
        ctx.logger().info({ client_id: row.client_id }, 'client created');

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, {
            client_id: row.client_id,
            name: row.name,
            api_key: key.apiKey,
            api_key_prefix: row.api_key_prefix,
            created_at: row.created_at.toISOString(),
          });
        } else {
          await printLine(ctx.io, `client_id: ${row.client_id}`);
          await printLine(ctx.io, `name:      ${row.name}`);
          await printLine(ctx.io, `api_key:   ${key.apiKey}`);
        }
        await printNote(
          ctx.io,
          'Store the API key now: it is shown only once and ig-router keeps only its hash.',
        );
        return ExitCodes.OK;
      },
    },
    {
      spec: {
        name: 'clients list',
        summary: 'List clients with their key prefixes and account counts.',
        options: { json: jsonOption },
        examples: ['igr clients list', 'igr clients list --json'],
      },
      async run(ctx, parsed) {
        const { db } = ctx.database();
        const rows = await db
          .selectFrom('clients')
          .leftJoin('ig_accounts', 'ig_accounts.client_id', 'clients.client_id')
          .select((eb) => [
            'clients.client_id',
            'clients.name',
            'clients.api_key_prefix',
            'clients.created_at',
            eb.fn.count<string>('ig_accounts.ig_business_id').as('accounts'),
          ])
          .groupBy([
            'clients.client_id',
            'clients.name',
            'clients.api_key_prefix',
            'clients.created_at',
          ])
          .orderBy('clients.name')
          .execute();

        if (flagOption(parsed, 'json')) {
          await printJson(
            ctx.io,
            rows.map((row) => ({
              client_id: row.client_id,
              name: row.name,
              api_key_prefix: row.api_key_prefix,
              accounts: Number(row.accounts),
              created_at: row.created_at.toISOString(),
            })),
          );
          return ExitCodes.OK;
        }
        if (rows.length === 0) {
          await printNote(ctx.io, 'No clients. Create one with igr clients create --name NAME.');
          return ExitCodes.OK;
        }
        await printLine(
          ctx.io,
          formatTable(
            ['CLIENT_ID', 'NAME', 'KEY_PREFIX', 'ACCOUNTS', 'CREATED_AT'],
            rows.map((row) => [
              row.client_id,
              row.name,
              row.api_key_prefix,
              String(row.accounts),
              row.created_at.toISOString(),
            ]),
          ),
        );
        return ExitCodes.OK;
      },
    },
  ],
};
