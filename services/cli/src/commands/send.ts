import { randomUUID } from 'node:crypto';
import {
  createIdempotentProducer,
  parseSendCommand,
  type SendCommand,
  type SendResult,
  sendResultSchema,
} from '@ig-router/core';
import { flagOption, requiredOption, stringOption } from '../args.js';
import { type CommandGroup, jsonOption } from '../command.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCodes, ExitCodes, UsageError } from '../errors.js';
import { printJson, printLine, printNote } from '../io.js';
import { followTopic } from '../kafka-read.js';
import { parseDuration, parseTime } from '../time.js';

// Command fields and the options that set them, so a validation error names the option.
const optionByField: Record<string, string> = {
  command_id: '--command-id',
  ig_business_id: '--account',
  'recipient.id': '--to',
  message: '--text',
  'message.text': '--text',
  not_after: '--not-after',
};

export const sendGroup: CommandGroup = {
  name: 'send',
  summary: 'Write a text message command to ig.outbound.',
  commands: [
    {
      spec: {
        name: 'send',
        summary: 'Write a text message command to ig.outbound; with --wait, print its result.',
        details:
          'The command is validated with the same schema as the /v1 API and written with key ig_business_id. The sender delivers it and writes the outcome to ig.outbound.results. Exit code 0: written (or, with --wait, sent). 1: the result is failed, expired or ambiguous, or no result arrived within --timeout.',
        options: {
          account: {
            type: 'string',
            valueName: 'ID',
            required: true,
            description: 'Instagram account id (ig_business_id) that sends.',
          },
          to: {
            type: 'string',
            valueName: 'IGSID',
            required: true,
            description: 'Recipient IGSID.',
          },
          text: {
            type: 'string',
            valueName: 'TEXT',
            required: true,
            description: 'Message text, at most 1000 UTF-8 bytes.',
          },
          'command-id': {
            type: 'string',
            valueName: 'ID',
            description:
              'Idempotency key, 1 to 128 characters; a command with a known command_id is not sent again (default: a random UUID).',
          },
          'human-agent': {
            type: 'boolean',
            description:
              'Send with tag HUMAN_AGENT, which allows replies up to 7 days after the last user message.',
          },
          'not-after': {
            type: 'string',
            valueName: 'TIME',
            description:
              'Deadline (ISO-8601 or relative such as +10m); the command expires if not sent by then.',
          },
          wait: {
            type: 'boolean',
            description: 'Wait for the result on ig.outbound.results and print it.',
          },
          timeout: {
            type: 'string',
            valueName: 'DURATION',
            description: 'With --wait: maximum wait for the result, such as 30s or 2m.',
            default: '30s',
          },
          json: jsonOption,
        },
        examples: [
          'igr send --account 17841400000000001 --to 5566778899 --text "Hello"',
          'igr send --account 17841400000000001 --to 5566778899 --text "Hello" --wait --json',
        ],
      },
      async run(ctx, parsed) {
        const commandId = stringOption(parsed, 'command-id') ?? randomUUID();
        const notAfterText = stringOption(parsed, 'not-after');
        const timeoutMs = parseDuration(stringOption(parsed, 'timeout') ?? '30s', '--timeout');
        const humanAgent = flagOption(parsed, 'human-agent');

        const candidate = {
          command_id: commandId,
          ig_business_id: requiredOption(parsed, 'account'),
          recipient: { id: requiredOption(parsed, 'to') },
          message: { text: requiredOption(parsed, 'text') },
          ...(humanAgent ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : {}),
          ...(notAfterText === undefined
            ? {}
            : { not_after: new Date(parseTime(notAfterText, '--not-after')).toISOString() }),
          created_at: new Date().toISOString(),
        };
        const validation = parseSendCommand(candidate);
        if (!validation.ok) {
          const problems = validation.error.issues
            .map((issue) => `${optionByField[issue.path] ?? issue.path}: ${issue.message}`)
            .join('; ');
          throw new UsageError(`invalid send command: ${problems}.`);
        }
        const command: SendCommand = validation.command;

        const { kafka, topics } = ctx.kafka();
        const wait = flagOption(parsed, 'wait');
        const waiting = wait ? await startWaitingForResult(ctx, command, timeoutMs) : undefined;

        const producer = createIdempotentProducer(kafka);
        await producer.connect();
        ctx.onClose(() => producer.disconnect());
        const [metadata] = await producer.send({
          topic: topics.outbound,
          messages: [{ key: command.ig_business_id, value: JSON.stringify(command) }],
        });
        ctx.logger().info(
          {
            command_id: command.command_id,
            ig_business_id: command.ig_business_id,
            topic: topics.outbound,
            partition: metadata?.partition,
            offset: metadata?.baseOffset,
          },
          'send command written',
        );
        await printNote(
          ctx.io,
          `command ${command.command_id} written to ${topics.outbound} partition ${metadata?.partition} offset ${metadata?.baseOffset}`,
        );

        if (!waiting) {
          if (flagOption(parsed, 'json')) {
            await printJson(ctx.io, {
              command_id: command.command_id,
              topic: topics.outbound,
              partition: metadata?.partition ?? null,
              offset: metadata?.baseOffset ?? null,
            });
          } else {
            await printLine(ctx.io, command.command_id);
          }
          return ExitCodes.OK;
        }

        const result = await waiting.result;
        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, result);
        } else {
          const detail =
            result.status === 'sent'
              ? `message_id ${result.message_id}`
              : (result.error?.message ?? 'no error reported');
          await printLine(
            ctx.io,
            `${result.command_id}: ${result.status} after ${result.attempts} attempts (${detail})`,
          );
        }
        return result.status === 'sent' ? ExitCodes.OK : ExitCodes.FAILURE;
      },
    },
  ],
};

/**
 * Starts following `ig.outbound.results` from its current end offsets. Resolves once those
 * offsets are taken, so the command can be written without its result being missed. The
 * returned `result` resolves with the command's result or rejects with SEND_TIMED_OUT.
 */
async function startWaitingForResult(
  ctx: CommandContext,
  command: SendCommand,
  timeoutMs: number,
): Promise<{ result: Promise<SendResult> }> {
  const { kafka, topics } = ctx.kafka();
  const admin = await ctx.admin();
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.io.signal.addEventListener('abort', onAbort, { once: true });

  let result: SendResult | undefined;
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => {
    ready = resolve;
  });

  const following = followTopic(kafka, admin, topics.outboundResults, {
    purpose: 'send-wait',
    signal: stop.signal,
    onReady: () => ready(),
    onRecord: ({ message }) => {
      if (message.key?.toString('utf8') !== command.ig_business_id || !message.value)
        return undefined;
      let json: unknown;
      try {
        json = JSON.parse(message.value.toString('utf8'));
      } catch {
        return undefined;
      }
      const parsed = sendResultSchema.safeParse(json);
      if (!parsed.success || parsed.data.command_id !== command.command_id) return undefined;
      result = parsed.data;
      return 'stop';
    },
  });

  const timer = setTimeout(() => stop.abort(), timeoutMs);
  // A failure before onReady (such as a missing topic) must reach the caller now.
  await Promise.race([readyPromise, following]);

  const resultPromise = following
    .then(() => {
      if (result) return result;
      if (ctx.io.signal.aborted) {
        throw new CliError(
          CliErrorCodes.SEND_TIMED_OUT,
          `stopped before the result of command ${command.command_id} arrived; the command may still be sent`,
        );
      }
      throw new CliError(
        CliErrorCodes.SEND_TIMED_OUT,
        `no result for command ${command.command_id} on ${topics.outboundResults} within ${timeoutMs} ms; the command may still be sent, so check later; if it stays without a result, check that the sender runs and that the account's circuit is closed (igr circuit list --open)`,
      );
    })
    .finally(() => {
      clearTimeout(timer);
      ctx.io.signal.removeEventListener('abort', onAbort);
    });
  // When writing the command fails, no caller awaits the result, so its rejection is handled here.
  resultPromise.catch(() => {});
  ctx.onClose(async () => {
    stop.abort();
    await following.catch(() => {});
  });
  return { result: resultPromise };
}
