import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { DEFAULT_APP_NAME, loadAppSecrets } from '../apps.js';
import { flagOption } from '../args.js';
import { type CommandGroup, jsonOption } from '../command.js';
import { cliAuditAppsSchema } from '../config.js';
import { ExitCodes } from '../errors.js';
import { printJson, printLine, printNote } from '../io.js';
import { rangesForTimes, readPartitionRanges } from '../kafka-read.js';
import { ProgressReporter } from '../progress.js';
import { timeRangeOptions } from '../range-options.js';

/** Record header with the signature exactly as Meta sent it. */
export const SIGNATURE_HEADER = 'x-hub-signature-256';
/** Record header naming the app whose secret verified the delivery. */
export const APP_HEADER = 'igr-app';

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;
const MAX_LISTED_FAILURES = 50;

export type SignatureVerdict =
  | { status: 'verified'; app: string }
  | { status: 'unsigned'; app: string }
  | { status: 'failed'; app: string; reason: string };

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    return Buffer.isBuffer(first)
      ? first.toString('utf8')
      : first === undefined
        ? undefined
        : String(first);
  }
  return undefined;
}

/**
 * Re-checks the stored signature of one `ig.raw` record: HMAC-SHA256 of the exact value bytes
 * with the secret of the app named in `igr-app` (`default` when the header is absent),
 * compared in constant time.
 */
export function verifyRawRecord(
  message: KafkaMessage,
  secrets: Map<string, string>,
): SignatureVerdict {
  const app = headerText(message.headers, APP_HEADER) ?? DEFAULT_APP_NAME;
  const signature = headerText(message.headers, SIGNATURE_HEADER);
  if (signature === undefined || signature === '') return { status: 'unsigned', app };

  const match = SIGNATURE.exec(signature);
  if (!match?.[1]) {
    return {
      status: 'failed',
      app,
      reason: 'malformed signature header; expected sha256= and 64 hex digits',
    };
  }
  const secret = secrets.get(app);
  if (secret === undefined) {
    return {
      status: 'failed',
      app,
      reason:
        app === DEFAULT_APP_NAME
          ? 'no secret for app default; set META_APP_SECRET'
          : `no secret for app ${app}; add it to META_APPS_FILE`,
    };
  }
  if (message.value === null) return { status: 'failed', app, reason: 'record has no value' };

  const expected = createHmac('sha256', secret).update(message.value).digest();
  const received = Buffer.from(match[1], 'hex');
  if (!timingSafeEqual(received, expected)) {
    return {
      status: 'failed',
      app,
      reason: 'signature does not match the stored body for this app secret',
    };
  }
  return { status: 'verified', app };
}

interface ListedRecord {
  partition: number;
  offset: string;
  timestamp: string;
  app: string;
  reason?: string;
}

export const auditGroup: CommandGroup = {
  name: 'audit',
  summary: 'Re-verify the stored webhook signatures of ig.raw.',
  commands: [
    {
      spec: {
        name: 'audit verify',
        summary:
          'Re-check the signature of every ig.raw record in a time range against the app secrets.',
        details:
          "Each record carries the X-Hub-Signature-256 header as received (record header x-hub-signature-256) and the app that verified it (record header igr-app). The HMAC-SHA256 of the stored body is recomputed with that app's secret: META_APP_SECRET for app default, META_APPS_FILE for named apps. Prints how many records verified, failed and were unsigned. Exit code 1 when any failed.",
        options: {
          from: {
            type: 'string',
            valueName: 'TIME',
            required: true,
            description:
              'Start of the range, inclusive: ISO-8601 with a zone, a date, now, or relative such as -1h, -2d.',
          },
          to: {
            type: 'string',
            valueName: 'TIME',
            description: 'End of the range, exclusive, in the same forms as --from.',
            default: 'now',
          },
          skew: {
            type: 'string',
            valueName: 'DURATION',
            description: 'How far timestamps may be out of order within a partition, such as 5m.',
            default: '5m',
          },
          json: jsonOption,
        },
        examples: [
          'igr audit verify --from -1d',
          'igr audit verify --from 2024-05-01 --to 2024-06-01 --json > audit-may.json',
        ],
      },
      async run(ctx, parsed) {
        const { fromMs, toMs, skewMs } = timeRangeOptions(parsed);
        const secrets = loadAppSecrets(ctx.settings(cliAuditAppsSchema));

        const { kafka, topics } = ctx.kafka();
        const admin = await ctx.admin();
        const ranges = await rangesForTimes(admin, topics.raw, fromMs - skewMs, toMs + skewMs);
        const progress = new ProgressReporter(ctx.io, 'audit', 5_000, 'records checked');
        const counts = { verified: 0, failed: 0, unsigned: 0 };
        const failures: ListedRecord[] = [];
        const unsigned: ListedRecord[] = [];
        const verifiedByApp: Record<string, number> = {};
        let lastProgress = { done: 0n, total: 0n };

        const { complete } = await readPartitionRanges(kafka, topics.raw, ranges, {
          purpose: 'audit',
          signal: ctx.io.signal,
          onProgress: (state) => {
            lastProgress = state;
            progress.update(state, counts.verified + counts.failed + counts.unsigned);
          },
          onRecord: ({ partition, message }) => {
            const timestamp = Number(message.timestamp);
            if (timestamp < fromMs || timestamp >= toMs) return;

            const verdict = verifyRawRecord(message, secrets);
            counts[verdict.status] += 1;
            const listed = {
              partition,
              offset: message.offset,
              timestamp: new Date(timestamp).toISOString(),
              app: verdict.app,
            };
            if (verdict.status === 'verified') {
              verifiedByApp[verdict.app] = (verifiedByApp[verdict.app] ?? 0) + 1;
            } else if (verdict.status === 'failed') {
              failures.push({ ...listed, reason: verdict.reason });
              ctx.logger().warn(
                {
                  topic: topics.raw,
                  partition,
                  offset: message.offset,
                  app: verdict.app,
                  reason: verdict.reason,
                },
                'stored signature failed verification',
              );
            } else {
              unsigned.push(listed);
            }
          },
        });
        progress.finish(lastProgress, counts.verified + counts.failed + counts.unsigned);

        const summary = {
          topic: topics.raw,
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          complete,
          ...counts,
          verified_by_app: verifiedByApp,
          failures,
          unsigned_records: unsigned,
        };
        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, summary);
        } else {
          await printLine(
            ctx.io,
            `${counts.verified} verified, ${counts.failed} failed, ${counts.unsigned} unsigned (${topics.raw}, ${summary.from} to ${summary.to})`,
          );
          for (const failure of failures.slice(0, MAX_LISTED_FAILURES)) {
            await printLine(
              ctx.io,
              `failed: partition ${failure.partition} offset ${failure.offset} at ${failure.timestamp} app ${failure.app}: ${failure.reason}`,
            );
          }
          if (failures.length > MAX_LISTED_FAILURES) {
            await printLine(
              ctx.io,
              `... and ${failures.length - MAX_LISTED_FAILURES} more failures; use --json for all`,
            );
          }
        }
        if (!complete) {
          await printNote(
            ctx.io,
            'audit: stopped before the end of the range; the counts are incomplete.',
          );
          return ExitCodes.FAILURE;
        }
        return counts.failed > 0 ? ExitCodes.FAILURE : ExitCodes.OK;
      },
    },
  ],
};
