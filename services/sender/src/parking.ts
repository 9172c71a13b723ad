import { randomUUID } from 'node:crypto';
import type { Logger, SendCommand } from '@ig-router/core';
import type { IHeaders } from 'kafkajs';
import type { CircuitBreakers } from './circuit-store.js';
import type { RecordWriter } from './record-writer.js';
import { buildResult, type ResultPublisher } from './results.js';
import {
  listExpiredParked,
  listParked,
  type ParkedRecord,
  type SendKey,
  type SendsStore,
} from './sends-table.js';

/** Headers of a parked command copied back to `ig.outbound` by a resume round. */
export const RESUME_ROUND_HEADER = 'igr-resume-round';
export const PARKED_PARTITION_HEADER = 'igr-parked-partition';
export const PARKED_OFFSET_HEADER = 'igr-parked-offset';

/** Where a command came from, which decides its order among parked commands. */
export interface CommandOrigin {
  partition: number;
  offset: string;
}

/** A parked command copied back to `ig.outbound`, as read from the copy's headers. */
export interface ResumedCopy {
  round: string;
  origin: CommandOrigin;
}

interface ParkedAccount {
  client_id: string;
  /** Parked rows of the account as counted by this instance, for metrics. */
  parked: number;
  /** Parking inserts started and not yet finished. */
  parking: number;
  round: { id: string; remaining: Set<string> } | undefined;
  /** Set while a round is being prepared, so two rounds never overlap. */
  starting: boolean;
  retryTimer: NodeJS.Timeout | undefined;
}

export interface ParkingOptions {
  outboundTopic: string;
  resumeBatchSize: number;
  sweepIntervalMs: number;
  parkedMaxAgeMs: number;
}

/**
 * Parks the commands of accounts whose circuit is open, so neither other accounts nor the
 * partition's committed offset wait for them. A parked command is a `sends` row in state
 * `parked` that contains the command and its original partition and offset.
 *
 * Once an account has parked commands, its new commands are parked behind them until all are
 * resumed, so resumption keeps the original order. A resume round copies up to
 * RESUME_BATCH_SIZE parked commands, in original order, back to `ig.outbound` with the
 * `igr-resume-round` header; the normal pipeline then sends them, so every Graph call is made
 * under the consumer group's partition ownership. A copy takes its row from `parked` to
 * `in_flight` with a compare-and-set, so a command copied twice is still sent once. When every
 * copy of a round is processed, the next round starts, or the account leaves parking when no
 * parked command is left.
 */
export class ParkingLot {
  private readonly accounts = new Map<string, ParkedAccount>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private stopped = false;

  constructor(
    private readonly sends: SendsStore,
    private readonly circuits: CircuitBreakers,
    private readonly writer: RecordWriter,
    private readonly results: ResultPublisher,
    private readonly options: ParkingOptions,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    circuits.onChange((igBusinessId, state) => {
      if (state.state !== 'open') this.reconsider(igBusinessId);
    });
  }

  start(): void {
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    for (const account of this.accounts.values()) clearTimeout(account.retryTimer);
  }

  /** Whether new commands of the account must be parked behind earlier ones. */
  isParking(igBusinessId: string): boolean {
    return this.accounts.has(igBusinessId);
  }

  /** Parked commands known to this instance, for metrics. */
  parkedCount(): number {
    let total = 0;
    for (const account of this.accounts.values()) total += account.parked;
    return total;
  }

  /** Forgets every account, after the partition assignment changed. */
  reset(): void {
    for (const account of this.accounts.values()) clearTimeout(account.retryTimer);
    this.accounts.clear();
  }

  /** Registers an owned account found with parked rows at partition load. */
  loadAccount(igBusinessId: string, clientId: string, parked: number): void {
    const account = this.account(igBusinessId, clientId);
    account.parked = parked;
    this.reconsider(igBusinessId);
  }

  /**
   * Parks a command that has no `sends` row yet. Returns false when a row already exists, which
   * the caller resolves as a duplicate.
   */
  async parkNew(
    key: SendKey & { recipient_id: string },
    command: SendCommand,
    origin: CommandOrigin,
  ): Promise<boolean> {
    const account = this.account(key.ig_business_id, key.client_id);
    account.parking += 1;
    try {
      const inserted = await this.sends.insert(key, 'parked', {
        result: this.parkedRecord(command, origin),
      });
      if (inserted) account.parked += 1;
      return inserted;
    } finally {
      account.parking -= 1;
      this.reconsider(key.ig_business_id);
    }
  }

  /** Parks a command whose row is in state `from`, such as after a 190 on its Graph call. */
  async parkExisting(
    key: SendKey,
    from: 'in_flight' | 'pending',
    command: SendCommand,
    origin: CommandOrigin,
    attempts: number,
  ): Promise<boolean> {
    const account = this.account(key.ig_business_id, key.client_id);
    account.parking += 1;
    try {
      const row = await this.sends.transition(key, from, 'parked', {
        attempts,
        result: this.parkedRecord(command, origin),
      });
      if (row) account.parked += 1;
      return row !== undefined;
    } finally {
      account.parking -= 1;
      this.reconsider(key.ig_business_id);
    }
  }

  /** Counts a parked command that a copy took out of parking. */
  unparked(igBusinessId: string): void {
    const account = this.accounts.get(igBusinessId);
    if (account && account.parked > 0) account.parked -= 1;
  }

  /** Records that a copy of a resume round was processed, whatever its outcome. */
  copyFinished(igBusinessId: string, round: string, commandId: string): void {
    const account = this.accounts.get(igBusinessId);
    if (!account?.round || account.round.id !== round) return;
    account.round.remaining.delete(commandId);
    if (account.round.remaining.size > 0) return;
    account.round = undefined;
    this.reconsider(igBusinessId);
  }

  /**
   * Starts a resume round for the account when its circuit lets commands through (or `force`
   * is set, to fail the commands of an account that became inactive or was removed) and no
   * round is running. An account without parked commands leaves parking.
   */
  reconsider(igBusinessId: string, force = false): void {
    const account = this.accounts.get(igBusinessId);
    if (!account || account.round || account.starting || this.stopped) return;
    if (!force && this.circuits.get(igBusinessId).state === 'open') {
      const at = this.circuits.get(igBusinessId).retry_at;
      // An elapsed cool-down turns the circuit half-open when the first copy is admitted.
      if (at === null || Date.parse(at) > this.clock()) return;
    }
    account.starting = true;
    this.startRound(igBusinessId, account).then(
      () => {
        account.starting = false;
        if (!account.round && this.accounts.get(igBusinessId) === account && account.parking > 0) {
          // Parking inserts were still running; look again when they are done.
          account.retryTimer = setTimeout(() => this.reconsider(igBusinessId, force), 50);
          account.retryTimer.unref();
        }
      },
      (err: unknown) => {
        account.starting = false;
        this.logger.error({ ig_business_id: igBusinessId, err }, 'starting a resume round failed');
        clearTimeout(account.retryTimer);
        account.retryTimer = setTimeout(() => this.reconsider(igBusinessId, force), 1_000);
        account.retryTimer.unref();
      },
    );
  }

  private async startRound(igBusinessId: string, account: ParkedAccount): Promise<void> {
    const rows = await listParked(
      this.sends.db,
      igBusinessId,
      account.client_id,
      this.options.resumeBatchSize,
    );
    if (this.accounts.get(igBusinessId) !== account) return;
    if (rows.length === 0) {
      if (account.parking === 0) {
        this.accounts.delete(igBusinessId);
        this.logger.info({ ig_business_id: igBusinessId }, 'account left parking');
      }
      return;
    }

    const round = { id: randomUUID(), remaining: new Set(rows.map((row) => row.command_id)) };
    account.round = round;
    this.logger.info(
      { ig_business_id: igBusinessId, commands: rows.length, round: round.id },
      'resuming parked commands',
    );
    try {
      await this.writer.writeAll(
        rows.map((row) => ({
          topic: this.options.outboundTopic,
          key: igBusinessId,
          value: JSON.stringify(row.result.parked.command),
          headers: resumeHeaders(round.id, row.result),
        })),
      );
    } catch (err) {
      if (account.round === round) account.round = undefined;
      throw err;
    }
  }

  /**
   * Expires parked commands whose `not_after` passed, or that waited longer than
   * PARKED_MAX_AGE_MS without one. Each ends with one `expired` result.
   */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.accounts.size === 0) return;
    this.sweeping = true;
    try {
      const due = await listExpiredParked(
        this.sends.db,
        [...this.accounts].map(([igBusinessId, account]) => ({
          ig_business_id: igBusinessId,
          client_id: account.client_id,
        })),
        this.options.parkedMaxAgeMs,
      );
      for (const row of due) {
        const command = row.result.parked.command;
        const result = buildResult(command, 'expired', { attempts: 0, now: this.clock() });
        const updated = await this.sends.transition(row, 'parked', 'expired', { result });
        if (!updated) continue;
        const expired = { ...result, attempts: updated.attempts };
        this.unparked(row.ig_business_id);
        this.logger.warn(
          {
            ig_business_id: row.ig_business_id,
            command_id: row.command_id,
            not_after: command.not_after ?? null,
          },
          'parked command expired',
        );
        await this.results.publish(expired, true);
      }
      for (const igBusinessId of new Set(due.map((row) => row.ig_business_id))) {
        this.reconsider(igBusinessId);
      }
    } catch (err) {
      this.logger.error({ err }, 'expiring parked commands failed');
    } finally {
      this.sweeping = false;
    }
  }

  private account(igBusinessId: string, clientId: string): ParkedAccount {
    let account = this.accounts.get(igBusinessId);
    if (!account) {
      account = {
        client_id: clientId,
        parked: 0,
        parking: 0,
        round: undefined,
        starting: false,
        retryTimer: undefined,
      };
      this.accounts.set(igBusinessId, account);
    }
    return account;
  }

  private parkedRecord(command: SendCommand, origin: CommandOrigin): ParkedRecord {
    return {
      parked: {
        command,
        partition: origin.partition,
        offset: origin.offset,
        parked_at: new Date(this.clock()).toISOString(),
      },
    };
  }
}

function resumeHeaders(round: string, record: ParkedRecord): IHeaders {
  return {
    [RESUME_ROUND_HEADER]: round,
    [PARKED_PARTITION_HEADER]: String(record.parked.partition),
    [PARKED_OFFSET_HEADER]: record.parked.offset,
  };
}

/** Reads the resume headers of an `ig.outbound` record; undefined for an original command. */
export function readResumeHeaders(headers: IHeaders | undefined): ResumedCopy | undefined {
  const text = (name: string): string | undefined => {
    const value = headers?.[name];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  };
  const round = text(RESUME_ROUND_HEADER);
  const partition = Number(text(PARKED_PARTITION_HEADER));
  const offset = text(PARKED_OFFSET_HEADER);
  if (!round || !Number.isInteger(partition) || !offset || !/^\d+$/.test(offset)) return undefined;
  return { round, origin: { partition, offset } };
}
