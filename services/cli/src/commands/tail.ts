import { flagOption, stringOption } from '../args.js';
import type { CommandGroup } from '../command.js';
import { ExitCodes } from '../errors.js';
import { printLine, printNote } from '../io.js';
import { followTopic } from '../kafka-read.js';
import { accountOption } from '../range-options.js';

/** Formats one human-readable line per event: time, type, account, sender and a short text. */
function describeEvent(event: Record<string, unknown>): string {
  const payload = (event.payload ?? {}) as Record<string, unknown>;
  const text =
    typeof payload.text === 'string' ? ` ${JSON.stringify(payload.text.slice(0, 80))}` : '';
  return (
    [
      String(event.received_at ?? '-'),
      String(event.type ?? '-'),
      `account=${String(event.ig_business_id ?? '-')}`,
      `sender=${String(event.sender_id ?? '-')}`,
      `event_id=${String(event.event_id ?? '-')}`,
    ].join(' ') + text
  );
}

export const tailGroup: CommandGroup = {
  name: 'tail',
  summary: 'Follow ig.events live.',
  commands: [
    {
      spec: {
        name: 'tail',
        summary: 'Print new events of ig.events as they arrive, until Ctrl-C.',
        details:
          'Starts at the current end of every partition and reads committed records only (read_committed), so it shows what downstream consumers see.',
        options: {
          account: {
            type: 'string',
            valueName: 'ID',
            description: 'Only events of this ig_business_id.',
          },
          type: {
            type: 'string',
            valueName: 'TYPE',
            description: 'Only events of this type, such as message.received.',
          },
          json: {
            type: 'boolean',
            description: 'Print each event as one JSON line (NDJSON) instead of a summary line.',
          },
        },
        examples: [
          'igr tail',
          'igr tail --account 17841400000000001 --type message.received --json',
        ],
      },
      async run(ctx, parsed) {
        const account = accountOption(parsed);
        const type = stringOption(parsed, 'type');
        const json = flagOption(parsed, 'json');
        const { kafka, topics } = ctx.kafka();
        const admin = await ctx.admin();

        await followTopic(kafka, admin, topics.events, {
          purpose: 'tail',
          signal: ctx.io.signal,
          onReady: () =>
            printNote(
              ctx.io,
              `tail: following ${topics.events} from its end; press Ctrl-C to stop`,
            ),
          onRecord: async ({ message }) => {
            if (!message.value) return undefined;
            if (account !== undefined && message.key?.toString('utf8') !== account)
              return undefined;
            const text = message.value.toString('utf8');
            let event: Record<string, unknown>;
            try {
              event = JSON.parse(text) as Record<string, unknown>;
            } catch {
              await printNote(
                ctx.io,
                `tail: skipped a value that is not JSON at offset ${message.offset}`,
              );
              return undefined;
            }
            if (type !== undefined && event.type !== type) return undefined;
            await printLine(ctx.io, json ? JSON.stringify(event) : describeEvent(event));
            return undefined;
          },
        });
        return ExitCodes.OK;
      },
    },
  ],
};
