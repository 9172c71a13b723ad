import { type TopicKey, TopicNames } from '@ig-router/core';
import { UsageError } from './errors.js';

/**
 * Resolves `--topic` to a catalogue topic: a logical name such as `ig.events`, or the deployed
 * name with TOPIC_PREFIX. Other topics are rejected, because replay filters know only these.
 */
export function resolveTopic(
  text: string,
  names: Record<TopicKey, string>,
): { key: TopicKey; name: string } {
  for (const key of Object.keys(TopicNames) as TopicKey[]) {
    if (text === TopicNames[key] || text === names[key]) return { key, name: names[key] };
  }
  throw new UsageError(
    `--topic ${JSON.stringify(text)} is not a catalogue topic; expected one of ${Object.values(TopicNames).join(', ')}.`,
  );
}
