import type { Logger } from '@ig-router/core';
import { type IgEventV1, igEventV1Schema, type SendCommand, topicNames } from '@ig-router/core';
import type { Kafka, Producer } from 'kafkajs';

/**
 * The pattern for bot and analytics teams: a consumer of `ig.events` in its own consumer group.
 * It answers each `message.received` event with one reply written to `ig.outbound`.
 *
 * - Echoes (`message.echo`, our own sent messages coming back) are ignored, so replies never
 *   trigger replies.
 * - Meta delivers at least once, so the same event can arrive twice. The reply's `command_id` is
 *   derived from the `event_id`, and the sender skips a `command_id` it has already handled;
 *   a bounded in-memory set also skips repeats before they reach Kafka.
 */
export interface AutoReplyOptions {
  kafka: Kafka;
  producer: Producer;
  logger: Logger;
  prefix: string;
  groupId: string;
  replyText: string;
  dedupeSize: number;
  /**
   * Start position of a new consumer group: the oldest event kept (true, the default here,
   * which tests and the demo rely on) or the next event written (false).
   */
  fromBeginning?: boolean;
  /** Accounts to reply for; empty or unset replies for every account. */
  accounts?: ReadonlySet<string>;
}

export function replyCommand(event: IgEventV1, text: string, now = new Date()): SendCommand {
  return {
    command_id: `auto-reply-${event.event_id}`,
    ig_business_id: event.ig_business_id,
    recipient: { id: event.sender_id as string },
    message: { text },
    messaging_type: 'RESPONSE',
    created_at: now.toISOString(),
  };
}

export async function startAutoReply(
  options: AutoReplyOptions,
): Promise<{ stop(): Promise<void> }> {
  const topics = topicNames(options.prefix);
  const seen = new Set<string>();
  const consumer = options.kafka.consumer({ groupId: options.groupId, readUncommitted: false });

  await options.producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: topics.events, fromBeginning: options.fromBeginning ?? true });
  options.logger.info({ topic: topics.events, group: options.groupId }, 'auto-reply started');

  // One produce request per fetched batch: waiting for Kafka's acknowledgement per event would
  // cap the consumer at one event per round trip. The batch's offsets are committed after the
  // send returns, so a crash replays the batch and the sender skips the repeated command_ids.
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      const replies: Array<{ event: IgEventV1; command: SendCommand }> = [];
      const inBatch = new Set<string>();
      for (const message of batch.messages) {
        const event = parseEvent(message.value);
        if (!event) {
          options.logger.warn(
            { topic: batch.topic, partition: batch.partition, offset: message.offset },
            'not an ig.event.v1 record; skipped',
          );
          continue;
        }
        if (event.type !== 'message.received' || !event.sender_id) continue;
        if (options.accounts?.size && !options.accounts.has(event.ig_business_id)) continue;
        if (seen.has(event.event_id) || inBatch.has(event.event_id)) continue;
        inBatch.add(event.event_id);
        replies.push({ event, command: replyCommand(event, options.replyText) });
      }
      if (replies.length === 0) return;

      await options.producer.send({
        topic: topics.outbound,
        acks: -1,
        messages: replies.map(({ event, command }) => ({
          key: event.ig_business_id,
          value: JSON.stringify(command),
        })),
      });
      // Remembered only once stored: a failed send retries the batch with every reply in it.
      for (const { event, command } of replies) {
        remember(seen, event.event_id, options.dedupeSize);
        options.logger.info(
          {
            event_id: event.event_id,
            command_id: command.command_id,
            ig_business_id: event.ig_business_id,
          },
          'reply queued',
        );
      }
    },
  });

  return {
    stop: async () => {
      await consumer.disconnect();
      await options.producer.disconnect();
    },
  };
}

function parseEvent(value: Buffer | null): IgEventV1 | undefined {
  try {
    const parsed = igEventV1Schema.safeParse(JSON.parse(value?.toString('utf8') ?? 'null'));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Adds an id to a bounded set, evicting the oldest id (Sets keep insertion order). */
function remember(seen: Set<string>, id: string, maxSize: number): void {
  seen.add(id);
  if (seen.size > maxSize) {
    const oldest = seen.values().next().value;
    if (oldest !== undefined) seen.delete(oldest);
  }
}
