import kafkajs, { type Admin } from 'kafkajs';
import type { OutputLimits, OutputTopic } from './route.js';

const { ConfigResourceTypes } = kafkajs;

/**
 * Reads the effective `max.message.bytes` of the router's output topics, so a record whose
 * output would exceed it is dead-lettered instead of retried forever.
 */
export async function fetchOutputLimits(
  admin: Admin,
  names: Record<OutputTopic, string>,
): Promise<OutputLimits> {
  const keyByName = new Map(Object.entries(names).map(([key, name]) => [name, key]));
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [...keyByName.keys()].map((name) => ({
      type: ConfigResourceTypes.TOPIC,
      name,
      configNames: ['max.message.bytes'],
    })),
  });
  const limits: OutputLimits = {};
  for (const resource of resources) {
    const key = keyByName.get(resource.resourceName) as OutputTopic | undefined;
    const entry = resource.configEntries.find(
      (config) => config.configName === 'max.message.bytes',
    );
    const value = Number(entry?.configValue);
    if (key && Number.isSafeInteger(value) && value > 0) limits[key] = value;
  }
  return limits;
}
