import type { Consumer } from 'kafkajs';

/**
 * Follows a consumer's group membership for a readiness probe. The consumer counts as ready
 * from the moment it joined its group until it crashes, stops or disconnects; a crash that
 * kafkajs restarts from turns ready again at the next join. A rebalance keeps it ready, because
 * the members rejoin within the session timeout and a probe failing then would only restart a
 * healthy process.
 */
export function watchConsumerReadiness(consumer: Consumer): () => boolean {
  let ready = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    ready = true;
  });
  const notReady = () => {
    ready = false;
  };
  consumer.on(consumer.events.CRASH, notReady);
  consumer.on(consumer.events.STOP, notReady);
  consumer.on(consumer.events.DISCONNECT, notReady);
  return () => ready;
}
