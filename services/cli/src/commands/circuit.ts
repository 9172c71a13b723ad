import { flagOption, type ParsedCommand } from '../args.js';
import { closedCircuitState, loadCircuitStates, writeCircuitState } from '../circuit-state.js';
import { type CommandGroup, jsonOption } from '../command.js';
import { CliError, CliErrorCodes, ExitCodes } from '../errors.js';
import { formatTable, printJson, printLine, printNote } from '../io.js';
import { validateIgBusinessId } from '../store.js';

function accountIdArgument(parsed: ParsedCommand): string {
  return validateIgBusinessId(parsed.positionals[0] ?? '', 'IG_BUSINESS_ID');
}

export const circuitGroup: CommandGroup = {
  name: 'circuit',
  summary: 'Show and reset the per-account circuits of the sender (ig.circuit).',
  commands: [
    {
      spec: {
        name: 'circuit list',
        summary: 'List the circuit state of every account, rebuilt from ig.circuit.',
        details:
          'Reads the compacted ig.circuit topic from the beginning with a private consumer group, up to the high watermarks taken at the start, and keeps the last state per account. Accounts whose last record is a tombstone are left out.',
        options: {
          open: { type: 'boolean', description: 'Only circuits that are open or half-open.' },
          json: jsonOption,
        },
        examples: ['igr circuit list', 'igr circuit list --open --json'],
      },
      async run(ctx, parsed) {
        const { kafka, topics } = ctx.kafka();
        const admin = await ctx.admin();
        const snapshot = await loadCircuitStates(kafka, admin, topics.circuit, {
          signal: ctx.io.signal,
        });
        let states = [...snapshot.states.values()].sort((a, b) =>
          a.ig_business_id.localeCompare(b.ig_business_id),
        );
        if (flagOption(parsed, 'open')) states = states.filter((state) => state.state !== 'closed');

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, states);
        } else if (states.length === 0) {
          await printNote(ctx.io, 'No circuit states recorded.');
        } else {
          await printLine(
            ctx.io,
            formatTable(
              [
                'IG_BUSINESS_ID',
                'STATE',
                'REASON',
                'FAILURES',
                'OPENED_AT',
                'RETRY_AT',
                'UPDATED_AT',
              ],
              states.map((state) => [
                state.ig_business_id,
                state.state,
                state.reason ?? '-',
                String(state.failures ?? '-'),
                state.opened_at ?? '-',
                state.retry_at ?? '-',
                state.updated_at ?? '-',
              ]),
            ),
          );
        }
        for (const [key, reason] of snapshot.invalid) {
          await printNote(
            ctx.io,
            `igr: the last ig.circuit record of key ${key} is invalid: ${reason}`,
          );
        }
        return ExitCodes.OK;
      },
    },
    {
      spec: {
        name: 'circuit reset',
        summary: 'Close the circuit of an account by writing a closed state to ig.circuit.',
        details:
          'The sender that owns the account picks the state up and resumes sending. Fix the cause first (for an auth circuit, igr accounts rotate-token closes it itself), or the next failures open it again.',
        options: { json: jsonOption },
        positionals: [
          { name: 'IG_BUSINESS_ID', description: 'Instagram account id (digits).', required: true },
        ],
        examples: ['igr circuit reset 17841400000000001'],
      },
      async run(ctx, parsed) {
        const igBusinessId = accountIdArgument(parsed);
        const { kafka, topics } = ctx.kafka();
        // A mistyped id would otherwise add a circuit for an account the sender never saw.
        const snapshot = await loadCircuitStates(kafka, await ctx.admin(), topics.circuit, {
          onlyKey: igBusinessId,
          signal: ctx.io.signal,
        });
        if (!snapshot.states.has(igBusinessId)) {
          throw new CliError(
            CliErrorCodes.CIRCUIT_NOT_FOUND,
            `no circuit for account ${igBusinessId} in ${topics.circuit}; check the id with igr circuit list`,
          );
        }
        const state = closedCircuitState(igBusinessId);
        await writeCircuitState(kafka, topics.circuit, state);
        ctx
          .logger()
          .info({ ig_business_id: igBusinessId, topic: topics.circuit }, 'circuit reset to closed');

        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, state);
        } else {
          await printLine(ctx.io, `circuit of ${igBusinessId} reset to closed`);
        }
        return ExitCodes.OK;
      },
    },
  ],
};
