import {
  type CommandValidationError,
  type Database,
  GraphApiError,
  type GraphError,
  type Logger,
  type SendCommand,
  type SendResult,
  type SendStatus,
} from '@ig-router/core';
import type { Kysely } from 'kysely';
import type { SenderMetrics } from './metrics.js';
import type { RecordWriter } from './record-writer.js';
import { markResultsPublished } from './sends-table.js';

/** The `error` of a result that did not come from a Graph error response. */
export type ResultError = NonNullable<SendResult['error']>;

/**
 * Describes a Graph error for a result. Network errors and invalid responses carry no Graph
 * code, so they get `code` 0 and the client's stable error code in `type`.
 */
export function resultErrorFromGraph(err: GraphError): ResultError {
  if (err instanceof GraphApiError && err.graphCode !== undefined) {
    return {
      code: err.graphCode,
      subcode: err.graphSubcode ?? null,
      type: err.graphType ?? null,
      message: err.graphMessage ?? err.message,
      classification: err.classification,
    };
  }
  return {
    code: 0,
    subcode: null,
    type: err.code,
    message: err.message,
    classification: err.classification,
  };
}

/**
 * Describes a failure the sender found before calling Graph (unknown or inactive account,
 * undecryptable token): `code` 0, the stable error code in `type`.
 */
export function resultErrorFromSender(
  code: string,
  message: string,
  classification: string,
): ResultError {
  return { code: 0, subcode: null, type: code, message, classification };
}

export function recipientOf(command: SendCommand): string {
  return command.recipient.id ?? command.recipient.comment_id ?? '';
}

export function buildResult(
  command: SendCommand,
  status: SendStatus,
  fields: {
    attempts: number;
    error?: SendResult['error'];
    message_id?: string | undefined;
    recipient_id?: string | undefined;
    now?: number;
  },
): SendResult {
  const result: SendResult = {
    command_id: command.command_id,
    ig_business_id: command.ig_business_id,
    recipient_id: fields.recipient_id ?? recipientOf(command),
    status,
    error: fields.error ?? null,
    attempts: fields.attempts,
    created_at: command.created_at,
    completed_at: new Date(fields.now ?? Date.now()).toISOString(),
  };
  if (fields.message_id !== undefined) result.message_id = fields.message_id;
  return result;
}

/**
 * Builds the failed result of a record that is not a valid command, keeping whatever ids could
 * be read from it.
 */
export function invalidCommandResult(
  value: unknown,
  error: CommandValidationError,
  now = Date.now(),
): SendResult {
  const fields = (typeof value === 'object' && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const text = (field: unknown): string | null =>
    typeof field === 'string' && field.length > 0 ? field : null;
  const recipient = (
    typeof fields.recipient === 'object' && fields.recipient !== null ? fields.recipient : {}
  ) as Record<string, unknown>;
  const createdAt = text(fields.created_at);
  const completedAt = new Date(now).toISOString();
  return {
    command_id: text(fields.command_id),
    ig_business_id: text(fields.ig_business_id),
    recipient_id: text(recipient.id) ?? text(recipient.comment_id),
    status: 'failed',
    error,
    attempts: 0,
    created_at:
      createdAt !== null && !Number.isNaN(Date.parse(createdAt)) ? createdAt : completedAt,
    completed_at: completedAt,
  };
}

/**
 * Publishes results to `ig.outbound.results`, keyed by `ig_business_id`, and then records in
 * `sends.completed_at` that each tracked result was published. The marks are written in
 * batches after Kafka acknowledged the records; restart recovery re-checks rows that a crash
 * left unmarked.
 */
export class ResultPublisher {
  private marks: string[] = [];
  private marking: Promise<void> | undefined;
  /** Published results whose `sends` row is not marked yet, so duplicates are not republished. */
  private readonly unmarked = new Set<string>();

  constructor(
    private readonly writer: RecordWriter,
    private readonly db: Kysely<Database>,
    private readonly topic: string,
    private readonly metrics: SenderMetrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Resolves once Kafka acknowledged the result. `tracked` is true when a `sends` row stores
   * this result. Results of commands without a row (invalid, unknown account) are not marked.
   */
  async publish(result: SendResult, tracked: boolean): Promise<void> {
    await this.writer.write({
      topic: this.topic,
      key: result.ig_business_id ?? result.command_id,
      value: JSON.stringify(result),
    });
    this.metrics.result(result);
    if (tracked && result.command_id !== null) {
      this.unmarked.add(result.command_id);
      this.marks.push(result.command_id);
      this.kickMarking();
    }
  }

  /** Returns whether this process published the command's result and has not marked its row yet. */
  isPublishedUnmarked(commandId: string): boolean {
    return this.unmarked.has(commandId);
  }

  /** Waits until every published result is marked in `sends`. */
  async flush(): Promise<void> {
    while (this.marking) await this.marking;
  }

  private kickMarking(): void {
    if (this.marking) return;
    this.marking = this.markLoop().finally(() => {
      this.marking = undefined;
      if (this.marks.length > 0) this.kickMarking();
    });
  }

  private async markLoop(): Promise<void> {
    while (this.marks.length > 0) {
      const batch = this.marks.splice(0, 1_000);
      try {
        await markResultsPublished(this.db, batch);
        for (const commandId of batch) this.unmarked.delete(commandId);
      } catch (err) {
        // The result is in Kafka and `unmarked` still contains the ids. After a restart,
        // recovery looks the results up in the topic.
        this.logger.warn({ err, results: batch.length }, 'marking results as published failed');
      }
    }
  }
}
