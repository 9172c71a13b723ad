import {
  type IgEventV1,
  igEventV1Schema,
  type RawRecordSource,
  routeEvent,
  type SplitEntry,
  type SplitResult,
  splitDelivery,
  type UnroutedEvent,
} from '@ig-router/core';
import { expect } from 'vitest';

// Hand-built Meta webhook items, shaped after Meta's documented payloads.

export const ACCOUNT_A = '17841400000000001';
export const ACCOUNT_B = '17841400000000002';
export const USER_1 = '6789012345678901';
export const USER_2 = '6789012345678902';
/** 2024-05-01T12:00:00.000Z */
export const TIME_S = 1_714_564_800;
export const TIME_MS = 1_714_564_800_000;

export const SOURCE: RawRecordSource = {
  topic: 'ig.raw',
  partition: 3,
  offset: '42',
  receivedAt: new Date('2024-05-01T12:00:05.000Z'),
};

export const ACCOUNT = { client_id: 'client-1', account_name: 'shop_one' };

export function messagingItem(
  body: Record<string, unknown>,
  options: { sender?: string; recipient?: string; timestamp?: number } = {},
): Record<string, unknown> {
  return {
    sender: { id: options.sender ?? USER_1 },
    recipient: { id: options.recipient ?? ACCOUNT_A },
    timestamp: options.timestamp ?? TIME_MS,
    ...body,
  };
}

export function textMessage(mid: string, text: string, extra: Record<string, unknown> = {}) {
  return messagingItem({ message: { mid, text, ...extra } });
}

export function entry(id: unknown, members: Record<string, unknown>): Record<string, unknown> {
  return { id, time: TIME_S, ...members };
}

export function envelope(entries: unknown[], object = 'instagram'): Record<string, unknown> {
  return { object, entry: entries };
}

export function bodyOf(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function split(value: unknown, source: RawRecordSource = SOURCE): SplitResult {
  return splitDelivery(bodyOf(value), source);
}

export function expectEnvelope(result: SplitResult): SplitEntry[] {
  if (result.kind !== 'envelope') {
    throw new Error(`expected an envelope, got ${result.reason}: ${result.error}`);
  }
  return result.entries;
}

export function allEvents(result: SplitResult): UnroutedEvent[] {
  return expectEnvelope(result).flatMap((splitEntry) => splitEntry.events);
}

/** Splits a delivery of one item under `field` of account A and returns its only event. */
export function splitOne(item: unknown, field: 'messaging' | 'changes' | 'standby' = 'messaging') {
  const events = allEvents(split(envelope([entry(ACCOUNT_A, { [field]: [item] })])));
  expect(events).toHaveLength(1);
  return events[0] as UnroutedEvent;
}

/** Routes the event and checks it against the published schema. */
export function routeAndValidate(event: UnroutedEvent): IgEventV1 {
  const routed = routeEvent(event, ACCOUNT);
  const parsed = igEventV1Schema.safeParse(routed);
  if (!parsed.success) {
    throw new Error(`event ${event.type} fails igEventV1Schema: ${parsed.error.message}`);
  }
  return routed;
}
