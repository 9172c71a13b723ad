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
  /** Answer only these accounts; empty or unset answers every account. */
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
  await consumer.subscribe({ topic: topics.events, fromBeginning: true });
  options.logger.info({ topic: topics.events, group: options.groupId }, 'auto-reply started');

  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const parsed = igEventV1Schema.safeParse(
        JSON.parse(message.value?.toString('utf8') ?? 'null'),
      );
      if (!parsed.success) {
        options.logger.warn(
          { topic: topics.events, partition, offset: message.offset },
          'not an ig.event.v1 record; skipped',
        );
        return;
      }
      const event = parsed.data;
      if (event.type !== 'message.received' || !event.sender_id) return;
      if (
        options.accounts &&
        options.accounts.size > 0 &&
        !options.accounts.has(event.ig_business_id)
      )
        return;
      if (seen.has(event.event_id)) return;

      const command = replyCommand(event, options.replyText);
      await options.producer.send({
        topic: topics.outbound,
        acks: -1,
        messages: [{ key: event.ig_business_id, value: JSON.stringify(command) }],
      });
      remember(seen, event.event_id, options.dedupeSize);
      options.logger.info(
        {
          event_id: event.event_id,
          command_id: command.command_id,
          ig_business_id: event.ig_business_id,
        },
        'reply queued',
      );
    },
  });

  return {
    stop: async () => {
      await consumer.disconnect();
      await options.producer.disconnect();
    },
  };
}

/** Adds an id to a bounded set, evicting the oldest id (Sets keep insertion order). */
function remember(seen: Set<string>, id: string, maxSize: number): void {
  seen.add(id);
  if (seen.size > maxSize) {
    const oldest = seen.values().next().value;
    if (oldest !== undefined) seen.delete(oldest);
  }
}
