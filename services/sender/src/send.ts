import {
  type Database,
  ErrorCodes,
  GraphApiError,
  type GraphClient,
  GraphError,
  type Logger,
  parseSendCommand,
  type SendApiRequest,
  type SendCommand,
  type SendResult,
  type SendState,
  type SendStatus,
  TokenCryptoError,
} from '@ig-router/core';
import type { Kysely } from 'kysely';
import type { CircuitBreakers } from './circuit-store.js';
import { AccountInactiveError, AccountUnknownError } from './errors.js';
import type { SenderMetrics } from './metrics.js';
import type { CommandOrigin, ParkingLot, ResumedCopy } from './parking.js';
import type { RateLimiter } from './rate-limit.js';
import {
  buildResult,
  invalidCommandResult,
  type ResultError,
  type ResultPublisher,
  recipientOf,
  resultErrorFromGraph,
  resultErrorFromSender,
} from './results.js';
import {
  findSend,
  isFinalState,
  type SendKey,
  type SendRow,
  type SendsStore,
  storedResult,
} from './sends-table.js';
import type { AccountRecord, AccountTokens } from './tokens.js';

/** `done`: the record is finished and its offset may be committed. `cancelled`: not finished. */
export type Outcome = 'done' | 'cancelled';

/** One `ig.outbound` record, with its value already parsed as JSON. */
export interface InboundRecord {
  partition: number;
  offset: string;
  /** The parsed value; undefined when the value is missing or not JSON. */
  json: unknown;
  /** Set for a parked command copied back by a resume round. */
  copy?: ResumedCopy | undefined;
}

export interface ProcessorSettings {
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  resendAmbiguous: boolean;
}

export interface ProcessorDeps {
  db: Kysely<Database>;
  sends: SendsStore;
  graph: GraphClient;
  tokens: AccountTokens;
  rateLimiter: RateLimiter;
  circuits: CircuitBreakers;
  parking: ParkingLot;
  results: ResultPublisher;
  metrics: SenderMetrics;
  logger: Logger;
  settings: ProcessorSettings;
  clock?: () => number;
  random?: () => number;
}

/** Thrown out of a wait that the batch cancelled; the command's row stays redeliverable. */
class Cancelled extends Error {}

/** Everything one command's processing carries between its steps. */
interface Job {
  command: SendCommand;
  record: InboundRecord;
  key: SendKey & { recipient_id: string };
  /** Position of the command among the account's commands, for parking. */
  origin: CommandOrigin;
  token: string;
  attempts: number;
  /** True when this command is the half-open probe of its account's circuit. */
  probe: boolean;
  signal: AbortSignal;
}

const AMBIGUOUS_AFTER_RESTART: ResultError = {
  code: 0,
  subcode: null,
  type: 'SENDER_RESTARTED',
  message:
    'a sender stopped while this request was in flight, so it may have reached Meta; it is not sent again',
  classification: 'unknown',
};

/**
 * Processes one send command from validation to its single result: dedupe through the
 * `sends` table, expiry, token, circuit, rate limit, the Graph call with retries, and the
 * result. Every path ends with exactly one result record, a parked row, or `cancelled`.
 */
export class CommandProcessor {
  private readonly inProgress = new Set<string>();
  private readonly clock: () => number;
  private readonly random: () => number;

  constructor(private readonly deps: ProcessorDeps) {
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  async process(record: InboundRecord, signal: AbortSignal): Promise<Outcome> {
    const parsed = parseSendCommand(record.json);
    if (!parsed.ok) {
      const result = invalidCommandResult(record.json, parsed.error, this.clock());
      this.deps.logger.warn(
        {
          command_id: result.command_id,
          ig_business_id: result.ig_business_id,
          partition: record.partition,
          offset: record.offset,
          err: parsed.error.message,
        },
        'invalid send command',
      );
      await this.deps.results.publish(result, false);
      return 'done';
    }

    const command = parsed.command;
    if (this.inProgress.has(command.command_id)) {
      this.deps.logger.info(
        { command_id: command.command_id, ig_business_id: command.ig_business_id },
        'command is already being processed; skipping the duplicate record',
      );
      return 'done';
    }

    this.inProgress.add(command.command_id);
    try {
      const outcome = await this.handle(command, record, signal);
      if (outcome === 'done' && record.copy) {
        this.deps.parking.copyFinished(
          command.ig_business_id,
          record.copy.round,
          command.command_id,
        );
      }
      return outcome;
    } catch (err) {
      if (err instanceof Cancelled) return 'cancelled';
      throw err;
    } finally {
      this.inProgress.delete(command.command_id);
    }
  }

  private async handle(
    command: SendCommand,
    record: InboundRecord,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const loaded = await this.loadAccount(command, record, signal);
    if (loaded === 'done') return 'done';

    const job: Job = {
      command,
      record,
      key: {
        command_id: command.command_id,
        ig_business_id: command.ig_business_id,
        client_id: loaded.account.client_id,
        recipient_id: recipientOf(command),
      },
      origin: record.copy?.origin ?? { partition: record.partition, offset: record.offset },
      token: loaded.token,
      attempts: 0,
      probe: false,
      signal,
    };
    try {
      return record.copy ? await this.handleCopy(job) : await this.handleOriginal(job);
    } finally {
      if (job.probe) this.deps.circuits.endProbe(command.ig_business_id);
    }
  }

  /**
   * Loads the account and its token. An unknown or inactive account, or a token sealed for
   * another account, ends the command as failed; KMS failures are retried like transient
   * Graph errors.
   */
  private async loadAccount(
    command: SendCommand,
    record: InboundRecord,
    signal: AbortSignal,
  ): Promise<{ account: AccountRecord; token: string } | 'done'> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.deps.tokens.get(command.ig_business_id);
      } catch (err) {
        if (err instanceof AccountUnknownError)
          return this.failUnknownAccount(command, record, err);

        const account = await this.deps.tokens.account(command.ig_business_id).catch(() => null);
        if (err instanceof AccountInactiveError && account) {
          const error = resultErrorFromSender(err.code, err.message, 'account_inactive');
          return this.failWithoutCall(command, record, account, error);
        }
        if (err instanceof TokenCryptoError && account) {
          const retry =
            err.code !== ErrorCodes.TOKEN_CONTEXT_MISMATCH &&
            attempt < this.deps.settings.maxAttempts;
          if (retry) {
            await this.sleep(this.backoffMs(attempt), signal, 'retry_backoff');
            continue;
          }
          const error = resultErrorFromSender(err.code, err.message, 'token');
          return this.failWithoutCall(command, record, account, error);
        }
        throw err;
      }
    }
  }

  private async failUnknownAccount(
    command: SendCommand,
    record: InboundRecord,
    err: AccountUnknownError,
  ): Promise<'done'> {
    const error = resultErrorFromSender(err.code, err.message, 'account_unknown');
    const row = await this.deps.db
      .selectFrom('sends')
      .select(['client_id'])
      .where('command_id', '=', command.command_id)
      .where('ig_business_id', '=', command.ig_business_id)
      .executeTakeFirst();
    if (row) {
      const account = {
        ig_business_id: command.ig_business_id,
        client_id: row.client_id,
        username: '',
        active: false,
      };
      return this.failWithoutCall(command, record, account, error);
    }

    // Without an account there is no client_id for a `sends` row, so this result is not
    // deduplicated: a redelivered record publishes the same failure again.
    const result = buildResult(command, 'failed', { attempts: 0, error, now: this.clock() });
    this.logFailure(command, null, result);
    await this.deps.results.publish(result, false);
    return 'done';
  }

  private async failWithoutCall(
    command: SendCommand,
    record: InboundRecord,
    account: AccountRecord,
    error: ResultError,
  ): Promise<'done'> {
    const key = {
      command_id: command.command_id,
      ig_business_id: command.ig_business_id,
      client_id: account.client_id,
      recipient_id: recipientOf(command),
    };
    const target: Target = {
      command,
      key,
      origin: record.copy?.origin ?? { partition: record.partition, offset: record.offset },
    };
    const intent: Intent = { kind: 'finish', status: 'failed', fields: { attempts: 0, error } };
    if (record.copy) {
      await this.resolveExisting(target, intent);
      return 'done';
    }
    return this.finishNew(target, intent);
  }

  private async handleOriginal(job: Job): Promise<Outcome> {
    const { command } = job;
    const igBusinessId = command.ig_business_id;
    if (this.deps.parking.isParking(igBusinessId)) return this.parkNew(job);

    const admission = await this.deps.circuits.admit(igBusinessId);
    if (admission === 'reject') return this.parkNew(job);
    job.probe = admission === 'probe';

    if (this.isExpired(command)) {
      return this.finishNew(job, { kind: 'finish', status: 'expired', fields: { attempts: 0 } });
    }

    await this.waitForRate(igBusinessId, job.signal);
    const claimed = await this.deps.sends.insert(job.key, 'in_flight');
    if (!claimed) {
      const existing = await this.resolveExisting(job, { kind: 'send' });
      if (existing === 'done') return 'done';
      job.attempts = existing.attempts;
    }
    return this.sendLoop(job);
  }

  private async handleCopy(job: Job): Promise<Outcome> {
    const { command } = job;
    const igBusinessId = command.ig_business_id;
    const admission = await this.deps.circuits.admit(igBusinessId);
    // The row stays parked; the next resume round copies it again.
    if (admission === 'reject') return 'done';
    job.probe = admission === 'probe';

    if (this.isExpired(command)) {
      const intent: Intent = { kind: 'finish', status: 'expired', fields: { attempts: 0 } };
      await this.resolveExisting(job, intent);
      return 'done';
    }

    await this.waitForRate(igBusinessId, job.signal);
    const row = await this.deps.sends.transition(job.key, 'parked', 'in_flight');
    if (row) {
      this.deps.parking.unparked(igBusinessId);
      job.attempts = row.attempts;
    } else {
      const existing = await this.resolveExisting(job, { kind: 'send' });
      if (existing === 'done') return 'done';
      job.attempts = existing.attempts;
    }
    return this.sendLoop(job);
  }

  /**
   * Resolves a command whose `sends` row already exists, by the row's state and what the
   * caller meant to do with the command:
   * - final: publishes the stored result if it was never published, else skips the duplicate;
   * - in_flight, held by no one here: the request may have reached Meta, so `ambiguous`
   *   (with RESEND_AMBIGUOUS, treated like pending);
   * - pending (a retry interrupted after a definite failure) or parked: the intent is carried
   *   out on the row. A parked row is only finished here; copies send it.
   * Returns `claimed` with the attempts so far when the row was taken to `in_flight` to send.
   */
  private async resolveExisting(
    target: Target,
    intent: Intent,
  ): Promise<'done' | { attempts: number }> {
    const { command, key } = target;
    const row = await findSend(this.deps.db, key);
    if (!row) {
      this.deps.logger.error(
        { command_id: key.command_id, ig_business_id: key.ig_business_id },
        'sends row vanished while resolving a duplicate command',
      );
      return 'done';
    }

    if (isFinalState(row.state)) return this.republishIfMissing(row);

    if (row.state === 'in_flight' && !this.deps.settings.resendAmbiguous) {
      const fields = { attempts: row.attempts, error: AMBIGUOUS_AFTER_RESTART };
      await this.finish(command, key, 'ambiguous', fields, 'in_flight');
      return 'done';
    }

    if (row.state === 'parked') {
      if (intent.kind === 'finish') {
        const fields = { ...intent.fields, attempts: row.attempts };
        if (await this.finish(command, key, intent.status, fields, 'parked')) {
          this.deps.parking.unparked(key.ig_business_id);
        }
      } else if (!this.deps.parking.isParking(key.ig_business_id)) {
        this.deps.parking.loadAccount(key.ig_business_id, key.client_id, 1);
      }
      return 'done';
    }

    const from = row.state;
    if (intent.kind === 'finish') {
      await this.finish(
        command,
        key,
        intent.status,
        { ...intent.fields, attempts: row.attempts },
        from,
      );
      return 'done';
    }
    if (intent.kind === 'park') {
      const state = row.state === 'pending' ? 'pending' : 'in_flight';
      await this.deps.parking.parkExisting(key, state, command, target.origin, row.attempts);
      return 'done';
    }
    const claimed = await this.deps.sends.transition(key, from, 'in_flight');
    return claimed ? { attempts: claimed.attempts } : 'done';
  }

  private async republishIfMissing(row: SendRow): Promise<'done'> {
    const result = storedResult(row);
    const published =
      row.completed_at !== null || this.deps.results.isPublishedUnmarked(row.command_id);
    if (published || !result) {
      this.deps.logger.info(
        { command_id: row.command_id, ig_business_id: row.ig_business_id, state: row.state },
        'command already finished; skipping the duplicate record',
      );
      return 'done';
    }
    await this.deps.results.publish(result, true);
    return 'done';
  }

  private async parkNew(job: Job): Promise<Outcome> {
    const parked = await this.deps.parking.parkNew(job.key, job.command, job.origin);
    if (!parked) {
      await this.resolveExisting(job, { kind: 'park' });
      return 'done';
    }
    this.deps.logger.debug(
      { command_id: job.key.command_id, ig_business_id: job.key.ig_business_id },
      'command parked',
    );
    return 'done';
  }

  /** Calls the Send API until the command ends, retrying transient errors with backoff. */
  private async sendLoop(job: Job): Promise<Outcome> {
    const body = toSendApiRequest(job.command);
    const igBusinessId = job.command.ig_business_id;
    for (;;) {
      job.attempts += 1;
      const leave = this.deps.metrics.enter('in_flight');
      try {
        const response = await this.deps.graph.sendMessage(igBusinessId, job.token, body, {
          commandId: job.command.command_id,
        });
        leave();
        this.deps.rateLimiter.noteUsage(igBusinessId, response.usage);
        await this.deps.circuits.apply(igBusinessId, { type: 'healthy' });
        await this.finish(
          job.command,
          job.key,
          'sent',
          {
            attempts: job.attempts,
            message_id: response.data.message_id,
            recipient_id: response.data.recipient_id,
          },
          'in_flight',
        );
        return 'done';
      } catch (err) {
        leave();
        if (!(err instanceof GraphError)) throw err;
        const next = await this.onGraphError(job, err);
        if (next === 'done') return 'done';
      }
    }
  }

  /** Applies the sender policy to a failed call; returns `retry` after the backoff wait. */
  private async onGraphError(job: Job, err: GraphError): Promise<'done' | 'retry'> {
    const { circuits, settings } = this.deps;
    const igBusinessId = job.command.ig_business_id;
    if (err instanceof GraphApiError) this.deps.rateLimiter.noteUsage(igBusinessId, err.usage);

    const unknownDelivery = err.requestMayHaveReachedMeta && !(err instanceof GraphApiError);
    if (unknownDelivery) {
      await circuits.apply(igBusinessId, { type: 'transient_failure' });
      if (settings.resendAmbiguous && job.attempts < settings.maxAttempts)
        return this.retry(job, err);
      await this.finish(
        job.command,
        job.key,
        'ambiguous',
        { attempts: job.attempts, error: resultErrorFromGraph(err) },
        'in_flight',
      );
      return 'done';
    }

    switch (err.classification) {
      case 'retryable': {
        const state = await circuits.apply(igBusinessId, { type: 'transient_failure' });
        if (state.state === 'open') return this.parkAfterCall(job, err);
        if (job.attempts >= settings.maxAttempts) return this.failAfterCall(job, err);
        return this.retry(job, err);
      }
      case 'throttled': {
        const regainAccessMs = err instanceof GraphApiError ? err.usage.regainAccessMs : undefined;
        await circuits.apply(igBusinessId, { type: 'throttled', regainAccessMs });
        return this.parkAfterCall(job, err);
      }
      case 'auth':
      case 'permission':
      case 'blocked':
        await circuits.apply(igBusinessId, { type: err.classification });
        return this.parkAfterCall(job, err);
      case 'recipient_permanent':
      case 'window_closed':
      case 'unknown':
        // Meta's error concerns this recipient or message, which proves the account works.
        await circuits.apply(igBusinessId, { type: 'healthy' });
        return this.failAfterCall(job, err);
    }
  }

  private async failAfterCall(job: Job, err: GraphError): Promise<'done'> {
    await this.finish(
      job.command,
      job.key,
      'failed',
      { attempts: job.attempts, error: resultErrorFromGraph(err) },
      'in_flight',
    );
    return 'done';
  }

  private async parkAfterCall(job: Job, err: GraphError): Promise<'done'> {
    const parked = await this.deps.parking.parkExisting(
      job.key,
      'in_flight',
      job.command,
      job.origin,
      job.attempts,
    );
    this.deps.logger.warn(
      {
        ig_business_id: job.key.ig_business_id,
        client_id: job.key.client_id,
        command_id: job.key.command_id,
        code: err instanceof GraphApiError ? err.graphCode : err.code,
        subcode: err instanceof GraphApiError ? err.graphSubcode : undefined,
        classification: err.classification,
        parked,
      },
      'send failed; command parked until the circuit closes',
    );
    return 'done';
  }

  /**
   * Marks the row `pending`, waits the backoff, and takes the row back to `in_flight` when the
   * command may still be sent. While `pending`, a restart sends the command again, which is
   * safe because the last request definitely failed.
   */
  private async retry(job: Job, err: GraphError): Promise<'done' | 'retry'> {
    const igBusinessId = job.command.ig_business_id;
    const pending = await this.deps.sends.transition(job.key, 'in_flight', 'pending', {
      attempts: job.attempts,
    });
    if (!pending) return 'done';
    const delayMs = this.backoffMs(job.attempts);
    this.deps.logger.info(
      {
        ig_business_id: igBusinessId,
        command_id: job.key.command_id,
        code: err instanceof GraphApiError ? err.graphCode : err.code,
        attempt: job.attempts,
        retry_in_ms: delayMs,
      },
      'send failed with a transient error; retrying',
    );
    if (job.probe) {
      this.deps.circuits.endProbe(igBusinessId);
      job.probe = false;
    }
    await this.sleep(delayMs, job.signal, 'retry_backoff');

    if (this.isExpired(job.command)) {
      await this.finish(job.command, job.key, 'expired', { attempts: job.attempts }, 'pending');
      return 'done';
    }
    const admission = await this.deps.circuits.admit(igBusinessId);
    if (admission === 'reject') {
      await this.deps.parking.parkExisting(
        job.key,
        'pending',
        job.command,
        job.origin,
        job.attempts,
      );
      return 'done';
    }
    job.probe = admission === 'probe';
    await this.waitForRate(igBusinessId, job.signal);
    const claimed = await this.deps.sends.transition(job.key, 'pending', 'in_flight');
    return claimed ? 'retry' : 'done';
  }

  /** Ends a command that has no `sends` row yet without calling Graph. */
  private async finishNew(
    target: Target,
    intent: Extract<Intent, { kind: 'finish' }>,
  ): Promise<'done'> {
    const { command, key } = target;
    const result = buildResult(command, intent.status, { ...intent.fields, now: this.clock() });
    const inserted = await this.deps.sends.insert(key, intent.status, {
      attempts: intent.fields.attempts,
      result,
      error: result.error,
      message_id: result.message_id ?? null,
    });
    if (!inserted) {
      await this.resolveExisting(target, intent);
      return 'done';
    }
    this.logFailure(command, key.client_id, result);
    await this.deps.results.publish(result, true);
    return 'done';
  }

  /**
   * Moves the row from one of `from` to the final `status` with its result and publishes the
   * result. Returns false, publishing nothing, when another process changed the row first.
   */
  private async finish(
    command: SendCommand,
    key: SendKey,
    status: SendStatus,
    fields: ResultFields,
    from: SendState,
  ): Promise<boolean> {
    const result = buildResult(command, status, { ...fields, now: this.clock() });
    const row = await this.deps.sends.transition(key, from, status, {
      attempts: fields.attempts,
      result,
      error: result.error,
      message_id: result.message_id ?? null,
      recipient_id: result.recipient_id ?? undefined,
    });
    if (!row) {
      this.deps.logger.warn(
        {
          command_id: key.command_id,
          ig_business_id: key.ig_business_id,
          status,
          message_id: fields.message_id,
        },
        'sends row changed by another process; this outcome is not published',
      );
      return false;
    }
    this.logFailure(command, key.client_id, result);
    await this.deps.results.publish(result, true);
    return true;
  }

  private logFailure(command: SendCommand, clientId: string | null, result: SendResult): void {
    if (result.status !== 'failed' && result.status !== 'ambiguous') return;
    const error = result.error && 'classification' in result.error ? result.error : undefined;
    this.deps.logger.warn(
      {
        ig_business_id: command.ig_business_id,
        client_id: clientId,
        command_id: command.command_id,
        status: result.status,
        code: error?.code,
        subcode: error?.subcode,
        type: error?.type,
        classification: error?.classification,
        attempts: result.attempts,
      },
      result.status === 'failed' ? 'send failed' : 'send outcome unknown; not sent again',
    );
  }

  private isExpired(command: SendCommand): boolean {
    return command.not_after !== undefined && Date.parse(command.not_after) <= this.clock();
  }

  private backoffMs(attempt: number): number {
    const { retryBaseMs, retryMaxMs } = this.deps.settings;
    const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1));
    return Math.round(ceiling * (0.5 + 0.5 * this.random()));
  }

  private async waitForRate(igBusinessId: string, signal: AbortSignal): Promise<void> {
    const delayMs = this.deps.rateLimiter.reserve(igBusinessId);
    if (delayMs > 0) await this.sleep(delayMs, signal, 'rate_limited');
  }

  private async sleep(
    ms: number,
    signal: AbortSignal,
    state: 'rate_limited' | 'retry_backoff',
  ): Promise<void> {
    const leave = this.deps.metrics.enter(state);
    try {
      await abortableSleep(ms, signal);
    } finally {
      leave();
    }
  }
}

type ResultFields = {
  attempts: number;
  error?: SendResult['error'];
  message_id?: string | undefined;
  recipient_id?: string | undefined;
};

/** The command and row a resolution acts on. */
interface Target {
  command: SendCommand;
  key: SendKey & { recipient_id: string };
  origin: CommandOrigin;
}

/** Action the caller intended for a command whose row already exists. */
type Intent =
  | { kind: 'send' }
  | { kind: 'park' }
  | { kind: 'finish'; status: SendStatus; fields: ResultFields };

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new Cancelled());
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Cancelled());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Builds the Send API body of a command. */
export function toSendApiRequest(command: SendCommand): SendApiRequest {
  const recipient =
    command.recipient.id !== undefined
      ? { id: command.recipient.id }
      : { comment_id: command.recipient.comment_id ?? '' };
  const body: SendApiRequest = { recipient };
  if (command.messaging_type !== undefined) body.messaging_type = command.messaging_type;
  if (command.tag !== undefined) body.tag = command.tag;
  if (command.message !== undefined) {
    body.message =
      command.message.text !== undefined
        ? { text: command.message.text }
        : { attachment: command.message.attachment };
  }
  if (command.sender_action !== undefined) body.sender_action = command.sender_action;
  if (command.payload !== undefined) body.payload = command.payload;
  if (command.reply_to !== undefined) body.reply_to = command.reply_to;
  return body;
}
