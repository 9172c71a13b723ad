import { createHash } from 'node:crypto';
import { TestkitError, TestkitErrorCodes } from '../errors.js';
import {
  type AccountInput,
  accountInputSchema,
  describeIssues,
  type FaultInput,
  type FaultSpec,
  faultInputSchema,
  type SimAccount,
} from './schemas.js';
import { SlidingWindow, usagePercent } from './usage.js';

/** One Send API request as the simulator received it. Holds no token, only its fingerprint. */
export interface SendRequestRecord {
  /** Position in the order of arrival, from 1 after the log was last cleared. */
  seq: number;
  /** The account the send was for; `null` when `/me` could not be resolved. */
  ig_business_id: string | null;
  /** `recipient.id`, or `recipient.comment_id` for a private reply. */
  recipient_id: string | null;
  /** The parsed JSON body, with any `access_token` field replaced; `null` if it was not JSON. */
  body: unknown;
  /** From the `x-command-id` or `idempotency-key` request header. */
  command_id: string | null;
  token_fingerprint: string | null;
  /** HTTP status of the response, or `null` when the connection was dropped. */
  status: number | null;
  error_code: number | null;
  error_subcode: number | null;
  message_id: string | null;
  dropped: boolean;
  /** Arrival time, ISO-8601 UTC. */
  at: string;
}

export interface SubscriptionRecord {
  page_id: string;
  subscribed_fields: string[];
  at: string;
}

/** A request that carried an access token somewhere other than the Authorization header. */
export interface ViolationRecord {
  kind: 'token_in_query' | 'token_in_body';
  method: string;
  /** The path without the query string, which held the token. */
  path: string;
  token_fingerprint: string;
  at: string;
}

export interface FaultRecord extends FaultSpec {
  id: number;
  /** Matching sends still to fail; the fault is removed at 0. */
  remaining: number;
}

/** An account as the control API shows it: the token is replaced by its fingerprint. */
export type PublicAccount = Omit<SimAccount, 'token'> & { token_fingerprint: string };

export interface SimulatorStateOptions {
  rateLimitPerSecond: number;
  /** Send API requests kept for `requests()`; older ones are dropped first. */
  requestLogLimit: number;
  appId: string;
  /** Source of the current time in milliseconds. */
  clock: () => number;
}

/** Returns the first 12 hex digits of the SHA-256 of `token`, which identify it without revealing it. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** Accounts, faults, rate windows and the logs of a Graph API simulator. */
export class SimulatorState {
  readonly rateLimitPerSecond: number;
  readonly appId: string;
  private readonly requestLogLimit: number;
  private readonly clock: () => number;

  private readonly accountsByPage = new Map<string, SimAccount>();
  private readonly accountsByIgId = new Map<string, SimAccount>();
  private readonly accountsByToken = new Map<string, SimAccount>();
  private readonly faultsByAccount = new Map<string, FaultRecord[]>();
  private readonly windows = new Map<string, SlidingWindow>();
  private appWindow = new SlidingWindow();
  private readonly subscriptionsByPage = new Map<string, SubscriptionRecord>();
  private readonly igsidsByComment = new Map<string, string>();
  private violationList: ViolationRecord[] = [];

  private requestLog: SendRequestRecord[] = [];
  private requestLogHead = 0;
  private requestsDropped = 0;

  private requestSeq = 0;
  // These sequences survive reset(), so message ids stay unique for the simulator's lifetime.
  private messageSeq = 0;
  private traceSeq = 0;
  private faultSeq = 0;
  private igsidSeq = 0;

  constructor(options: SimulatorStateOptions) {
    this.rateLimitPerSecond = options.rateLimitPerSecond;
    this.requestLogLimit = options.requestLogLimit;
    this.appId = options.appId;
    this.clock = options.clock;
  }

  now(): number {
    return this.clock();
  }

  nowIso(): string {
    return new Date(this.clock()).toISOString();
  }

  /**
   * Registers an account, replacing any account with the same `page_id` or `ig_business_id`.
   * Throws `SIM_ACCOUNT_INVALID` for invalid input or a token that another account already uses.
   */
  registerAccount(input: AccountInput): SimAccount {
    const parsed = accountInputSchema.safeParse(input);
    if (!parsed.success) {
      throw new TestkitError(
        TestkitErrorCodes.SIM_ACCOUNT_INVALID,
        `invalid account: ${describeIssues(parsed.error)}`,
      );
    }
    const account = parsed.data;

    const owner = this.accountsByToken.get(account.token);
    if (
      owner !== undefined &&
      owner.page_id !== account.page_id &&
      (account.ig_business_id === undefined || owner.ig_business_id !== account.ig_business_id)
    ) {
      throw new TestkitError(
        TestkitErrorCodes.SIM_ACCOUNT_INVALID,
        `invalid account: the token is already registered for page ${owner.page_id}; give each account its own token`,
      );
    }

    this.removeAccount(this.accountsByPage.get(account.page_id));
    if (account.ig_business_id !== undefined) {
      this.removeAccount(this.accountsByIgId.get(account.ig_business_id));
    }

    this.accountsByPage.set(account.page_id, account);
    this.accountsByToken.set(account.token, account);
    if (account.has_instagram_account && account.ig_business_id !== undefined) {
      this.accountsByIgId.set(account.ig_business_id, account);
    }
    return account;
  }

  accountByToken(token: string): SimAccount | undefined {
    return this.accountsByToken.get(token);
  }

  accountByIgId(igBusinessId: string): SimAccount | undefined {
    return this.accountsByIgId.get(igBusinessId);
  }

  accountByPageId(pageId: string): SimAccount | undefined {
    return this.accountsByPage.get(pageId);
  }

  accounts(): PublicAccount[] {
    return [...this.accountsByPage.values()].map(publicAccount);
  }

  /** Adds a fault; throws `SIM_FAULT_INVALID` for invalid input. */
  addFault(input: FaultInput): FaultRecord {
    const parsed = faultInputSchema.safeParse(input);
    if (!parsed.success) {
      throw new TestkitError(
        TestkitErrorCodes.SIM_FAULT_INVALID,
        `invalid fault: ${describeIssues(parsed.error)}`,
      );
    }

    this.faultSeq += 1;
    const fault: FaultRecord = { ...parsed.data, id: this.faultSeq, remaining: parsed.data.count };
    const list = this.faultsByAccount.get(fault.ig_business_id) ?? [];
    list.push(fault);
    this.faultsByAccount.set(fault.ig_business_id, list);
    return fault;
  }

  faults(): FaultRecord[] {
    return [...this.faultsByAccount.values()].flat();
  }

  /** Removes every fault and returns how many were removed. */
  clearFaults(): number {
    const removed = this.faults().length;
    this.faultsByAccount.clear();
    return removed;
  }

  /** Consumes one use of the oldest fault that matches the send, if any. */
  takeFault(igBusinessId: string, recipientId: string | null): FaultRecord | undefined {
    const list = this.faultsByAccount.get(igBusinessId);
    if (list === undefined) return undefined;

    const index = list.findIndex(
      (fault) => fault.recipient_id === undefined || fault.recipient_id === recipientId,
    );
    const fault = list[index];
    if (fault === undefined) return undefined;

    fault.remaining -= 1;
    if (fault.remaining === 0) list.splice(index, 1);
    if (list.length === 0) this.faultsByAccount.delete(igBusinessId);
    return fault;
  }

  /** Send limit per second of an account. */
  limitFor(igBusinessId: string): number {
    return this.accountsByIgId.get(igBusinessId)?.rate_limit_per_second ?? this.rateLimitPerSecond;
  }

  /** Counts a send attempt against the account's and the app's one-second windows. */
  recordSendAttempt(igBusinessId: string, now: number): void {
    this.windowFor(igBusinessId).record(now);
    this.appWindow.record(now);
  }

  /** Returns true when the account made more sends in the last second than its limit. */
  isOverLimit(igBusinessId: string, now: number): boolean {
    return this.windowFor(igBusinessId).count(now) > this.limitFor(igBusinessId);
  }

  /**
   * Computes the usage figures for the headers. The app's capacity is the per-account limit times
   * the number of registered Instagram accounts (at least one).
   */
  usage(
    igBusinessId: string | null,
    now: number,
  ): { app: number; account: number; regainMinutes: number } {
    const capacity = this.rateLimitPerSecond * Math.max(1, this.accountsByIgId.size);
    const app = usagePercent(this.appWindow.count(now), capacity);
    if (igBusinessId === null) return { app, account: 0, regainMinutes: 0 };

    const window = this.windows.get(igBusinessId);
    if (window === undefined) return { app, account: 0, regainMinutes: 0 };
    const limit = this.limitFor(igBusinessId);

    // The window is one second long, so a throttled account recovers in well under a minute and
    // the whole minutes reported are 0. A fault can report a longer block.
    const regainMinutes = Math.floor(window.msUntilBelow(limit, now) / 60_000);
    return { app, account: usagePercent(window.count(now), limit), regainMinutes };
  }

  /** Appends a Send API request to the log, dropping the oldest one beyond the log limit. */
  logRequest(fields: Omit<SendRequestRecord, 'seq'>): SendRequestRecord {
    this.requestSeq += 1;
    const record: SendRequestRecord = { seq: this.requestSeq, ...fields };
    this.requestLog.push(record);

    if (this.requestLog.length - this.requestLogHead > this.requestLogLimit) {
      this.requestLogHead += 1;
      this.requestsDropped += 1;
    }
    if (this.requestLogHead >= 1024 && this.requestLogHead * 2 >= this.requestLog.length) {
      this.requestLog = this.requestLog.slice(this.requestLogHead);
      this.requestLogHead = 0;
    }
    return record;
  }

  /** Returns the logged Send API requests in order of arrival, optionally for one account. */
  requests(filter: { ig_business_id?: string } = {}): SendRequestRecord[] {
    const all = this.requestLog.slice(this.requestLogHead);
    if (filter.ig_business_id === undefined) return all;
    return all.filter((record) => record.ig_business_id === filter.ig_business_id);
  }

  /** Number of requests dropped from the log because it reached its limit. */
  requestsDroppedFromLog(): number {
    return this.requestsDropped;
  }

  /** Empties the request log; `seq` starts again from 1. */
  clearRequests(): void {
    this.requestLog = [];
    this.requestLogHead = 0;
    this.requestsDropped = 0;
    this.requestSeq = 0;
  }

  recordSubscription(pageId: string, subscribedFields: string[]): SubscriptionRecord {
    const record = { page_id: pageId, subscribed_fields: subscribedFields, at: this.nowIso() };
    this.subscriptionsByPage.set(pageId, record);
    return record;
  }

  subscription(pageId: string): SubscriptionRecord | undefined {
    return this.subscriptionsByPage.get(pageId);
  }

  subscriptions(): SubscriptionRecord[] {
    return [...this.subscriptionsByPage.values()];
  }

  recordViolation(violation: ViolationRecord): void {
    this.violationList.push(violation);
  }

  violations(): ViolationRecord[] {
    return [...this.violationList];
  }

  /** Returns a new `message_id`, shaped like Instagram's: URL-safe base64 of an item key. */
  nextMessageId(igBusinessId: string): string {
    this.messageSeq += 1;
    return Buffer.from(`ig_message_item:1:IGMessageID:${igBusinessId}:${this.messageSeq}`).toString(
      'base64url',
    );
  }

  nextTraceId(): string {
    this.traceSeq += 1;
    return `Sim${this.traceSeq.toString(36).padStart(8, '0')}`;
  }

  /** Returns the commenter's IGSID for a private reply, the same one for every reply to a comment. */
  igsidForComment(commentId: string): string {
    let igsid = this.igsidsByComment.get(commentId);
    if (igsid === undefined) {
      this.igsidSeq += 1;
      igsid = `1790000${String(this.igsidSeq).padStart(10, '0')}`;
      this.igsidsByComment.set(commentId, igsid);
    }
    return igsid;
  }

  /** Forgets accounts, faults, rate windows, logs, subscriptions and violations. */
  reset(): void {
    this.accountsByPage.clear();
    this.accountsByIgId.clear();
    this.accountsByToken.clear();
    this.faultsByAccount.clear();
    this.windows.clear();
    this.appWindow = new SlidingWindow();
    this.subscriptionsByPage.clear();
    this.igsidsByComment.clear();
    this.violationList = [];
    this.clearRequests();
  }

  private windowFor(igBusinessId: string): SlidingWindow {
    let window = this.windows.get(igBusinessId);
    if (window === undefined) {
      window = new SlidingWindow();
      this.windows.set(igBusinessId, window);
    }
    return window;
  }

  private removeAccount(account: SimAccount | undefined): void {
    if (account === undefined) return;
    this.accountsByPage.delete(account.page_id);
    this.accountsByToken.delete(account.token);
    if (account.ig_business_id !== undefined) this.accountsByIgId.delete(account.ig_business_id);
  }
}

/** Returns the account with its token replaced by the token's fingerprint. */
export function publicAccount(account: SimAccount): PublicAccount {
  const { token, ...rest } = account;
  return { ...rest, token_fingerprint: tokenFingerprint(token) };
}
