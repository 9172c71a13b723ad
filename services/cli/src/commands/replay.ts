import { createWriteStream, type WriteStream } from 'node:fs';
import { parseJsonLossless, type TopicKey } from '@ig-router/core';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { requiredOption, stringOption } from '../args.js';
import type { CommandGroup } from '../command.js';
import { CliError, CliErrorCodes, ExitCodes, UsageError } from '../errors.js';
import { type CliIo, printNote, write } from '../io.js';
import { rangesForTimes, readPartitionRanges } from '../kafka-read.js';
import { ProgressReporter } from '../progress.js';
import { accountOption, timeRangeOptions } from '../range-options.js';
import { resolveTopic } from '../topic-arg.js';

/** Topics whose values carry an event `type`, so `--type` applies. */
const TYPED_TOPICS: TopicKey[] = ['events'];

export interface RecordFilter {
  fromMs: number;
  toMs: number;
  account?: string | undefined;
  type?: string | undefined;
}

type Verdict = 'match' | 'outside_range' | 'filtered_out';

/**
 * Decides whether a record belongs to the replay. Every topic is keyed by the account id
 * except `ig.raw`, whose key is only the first entry's id, so raw bodies are matched on any
 * `entry[].id`.
 */
export function matchRecord(topic: TopicKey, message: KafkaMessage, filter: RecordFilter): Verdict {
  const timestamp = Number(message.timestamp);
  if (timestamp < filter.fromMs || timestamp >= filter.toMs) return 'outside_range';

  if (filter.account !== undefined) {
    const matches =
      topic === 'raw'
        ? rawBodyMentionsAccount(message.value, filter.account)
        : message.key?.toString('utf8') === filter.account;
    if (!matches) return 'filtered_out';
  }
  if (filter.type !== undefined && valueField(message.value, 'type') !== filter.type) {
    return 'filtered_out';
  }
  return 'match';
}

function rawBodyMentionsAccount(value: Buffer | null, account: string): boolean {
  if (!value) return false;
  try {
    const body = parseJsonLossless(value.toString('utf8')) as { entry?: unknown };
    if (!Array.isArray(body.entry)) return false;
    return body.entry.some(
      (entry) =>
        typeof entry === 'object' &&
        entry !== null &&
        String((entry as { id?: unknown }).id) === account,
    );
  } catch {
    return false;
  }
}

function valueField(value: Buffer | null, field: string): unknown {
  if (!value) return undefined;
  try {
    return (JSON.parse(value.toString('utf8')) as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}

function headersAsText(headers: IHeaders | undefined): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    text[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return text;
}

/**
 * Formats one NDJSON line. `value`: the record value itself, which for `ig.events` parses with
 * the `ig.event.v1` schema. `record`: an envelope with partition, offset, timestamp, key and
 * headers; `ig.raw` values go in `value_base64` so the exact signed bytes survive.
 * Returns null for a tombstone or a value that is not JSON in `value` format.
 */
export function formatLine(
  topic: { key: TopicKey; name: string },
  partition: number,
  message: KafkaMessage,
  format: 'value' | 'record',
): string | null {
  if (format === 'value') {
    if (!message.value) return null;
    const text = message.value.toString('utf8');
    try {
      JSON.parse(text);
    } catch {
      return null;
    }
    // Producers write compact JSON; a value with line breaks is re-serialized onto one line.
    return /[\r\n]/.test(text) ? JSON.stringify(JSON.parse(text)) : text;
  }

  const envelope: Record<string, unknown> = {
    topic: topic.name,
    partition,
    offset: message.offset,
    timestamp: new Date(Number(message.timestamp)).toISOString(),
    key: message.key?.toString('utf8') ?? null,
    headers: headersAsText(message.headers),
  };
  if (message.value === null) {
    envelope.value = null;
  } else if (topic.key === 'raw') {
    envelope.value_base64 = message.value.toString('base64');
  } else {
    try {
      envelope.value = JSON.parse(message.value.toString('utf8'));
    } catch {
      envelope.value_base64 = message.value.toString('base64');
    }
  }
  return JSON.stringify(envelope);
}

async function openOutput(
  io: CliIo,
  path: string | undefined,
): Promise<{ stream: NodeJS.WritableStream; close(): Promise<void> }> {
  if (path === undefined) return { stream: io.stdout, close: async () => {} };
  const stream: WriteStream = createWriteStream(path, { flags: 'w' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) =>
      reject(
        new CliError(
          CliErrorCodes.OUTPUT_FAILED,
          `cannot write --out ${path}: ${err.message}; choose a writable path`,
        ),
      ),
    );
  });
  return {
    stream,
    close: () =>
      new Promise<void>((resolve, reject) => {
        stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
      }),
  };
}

export const replayGroup: CommandGroup = {
  name: 'replay',
  summary: 'Write the records of a time range as NDJSON.',
  commands: [
    {
      spec: {
        name: 'replay',
        summary: 'Write the records of a topic in a time range as NDJSON.',
        details:
          'Start and end offsets are looked up by record timestamp (the gateway receive time) with ListOffsets, not by scanning from the start. Record timestamps can be slightly out of order within a partition, so the read starts --skew before --from and ends --skew after --to, and records are then kept only when from <= timestamp < to. Reads committed records only. Progress goes to stderr: a bar on a terminal, otherwise a line every 5 seconds.',
        options: {
          topic: {
            type: 'string',
            valueName: 'TOPIC',
            required: true,
            description:
              'Topic: ig.events, ig.raw, ig.events.unrouted, ig.dlq, ig.outbound, ig.outbound.results or ig.circuit (TOPIC_PREFIX is added).',
          },
          from: {
            type: 'string',
            valueName: 'TIME',
            required: true,
            description:
              'Start of the range, inclusive: ISO-8601 with a zone, a date (midnight UTC), now, or relative such as -1h, -30m, -2d.',
          },
          to: {
            type: 'string',
            valueName: 'TIME',
            description: 'End of the range, exclusive, in the same forms as --from.',
            default: 'now',
          },
          account: {
            type: 'string',
            valueName: 'ID',
            description: 'Only records of this ig_business_id.',
          },
          type: {
            type: 'string',
            valueName: 'TYPE',
            description: 'Only events of this type, such as message.received (ig.events only).',
          },
          out: {
            type: 'string',
            valueName: 'FILE',
            description: 'Write to this file (replaced) instead of stdout.',
          },
          format: {
            type: 'string',
            valueName: 'FORMAT',
            description:
              'value: one record value per line; record: an envelope with partition, offset, timestamp, key, headers and the value. ig.raw always uses record, with value_base64.',
            default: 'value',
          },
          skew: {
            type: 'string',
            valueName: 'DURATION',
            description: 'How far timestamps may be out of order within a partition, such as 5m.',
            default: '5m',
          },
        },
        examples: [
          'igr replay --topic ig.events --from -1h --account 17841400000000001 --out last-hour.ndjson',
          'igr replay --topic ig.events --from 2024-05-01T00:00:00Z --to 2024-05-02T00:00:00Z --type message.received',
          'igr replay --topic ig.raw --from -1d --format record > raw.ndjson',
        ],
      },
      async run(ctx, parsed) {
        const { fromMs, toMs, skewMs } = timeRangeOptions(parsed);
        const account = accountOption(parsed);
        const type = stringOption(parsed, 'type');
        const formatText = stringOption(parsed, 'format') ?? 'value';
        if (formatText !== 'value' && formatText !== 'record') {
          throw new UsageError(
            `--format ${JSON.stringify(formatText)} is invalid; expected value or record.`,
          );
        }

        const { kafka, topics } = ctx.kafka();
        const topic = resolveTopic(requiredOption(parsed, 'topic'), topics);
        if (type !== undefined && !TYPED_TOPICS.includes(topic.key)) {
          throw new UsageError(
            `--type applies to ig.events only; ${topic.name} records have no event type.`,
          );
        }
        const format = topic.key === 'raw' ? 'record' : formatText;

        const admin = await ctx.admin();
        const ranges = await rangesForTimes(admin, topic.name, fromMs - skewMs, toMs + skewMs);
        const output = await openOutput(ctx.io, stringOption(parsed, 'out'));
        const progress = new ProgressReporter(ctx.io, 'replay');
        const filter: RecordFilter = { fromMs, toMs, account, type };
        const counts = { written: 0, outside_range: 0, filtered_out: 0, skipped: 0 };
        let lastProgress = { done: 0n, total: 0n };

        let complete: boolean;
        try {
          ({ complete } = await readPartitionRanges(kafka, topic.name, ranges, {
            purpose: 'replay',
            signal: ctx.io.signal,
            onProgress: (state) => {
              lastProgress = state;
              progress.update(state, counts.written);
            },
            onRecord: async ({ partition, message }) => {
              const verdict = matchRecord(topic.key, message, filter);
              if (verdict !== 'match') {
                counts[verdict] += 1;
                return;
              }
              const line = formatLine(topic, partition, message, format);
              if (line === null) {
                counts.skipped += 1;
                return;
              }
              await write(output.stream, `${line}\n`);
              counts.written += 1;
            },
          }));
        } finally {
          await output.close();
        }
        progress.finish(lastProgress, counts.written);

        const destination = stringOption(parsed, 'out') ?? 'stdout';
        await printNote(
          ctx.io,
          `replay: ${counts.written} records of ${topic.name} from ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()} written to ${destination}; ${counts.outside_range} outside the range, ${counts.filtered_out} filtered out, ${counts.skipped} tombstones or non-JSON values skipped`,
        );
        if (!complete) {
          await printNote(
            ctx.io,
            'replay: stopped before the end of the range; the output is incomplete.',
          );
          return ExitCodes.FAILURE;
        }
        return ExitCodes.OK;
      },
    },
  ],
};
