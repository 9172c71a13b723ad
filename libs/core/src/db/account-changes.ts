import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { ACCOUNT_CHANGES_CHANNEL } from './migrations/002_account_notify.js';

export interface AccountChange {
  op: 'insert' | 'update' | 'delete';
  ig_business_id: string;
  client_id: string;
  active: boolean;
}

export interface AccountChangeListenerEvents {
  change: [AccountChange];
  /**
   * Emitted after the LISTEN connection was re-established: notifications sent while it was
   * down are lost, so caches must drop everything they hold.
   */
  resync: [];
}

/**
 * Holds one dedicated connection that LISTENs for `ig_accounts` changes and reconnects with
 * backoff when the database goes away.
 */
export class AccountChangeListener extends EventEmitter<AccountChangeListenerEvents> {
  private client: pg.Client | undefined;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connectedOnce = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    private readonly maxBackoffMs = 5_000,
  ) {
    super();
  }

  /** Connects and starts listening; resolves once the first LISTEN succeeded. */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', (message) => this.onNotification(message));
    client.on('error', (err) => this.onConnectionLost(client, err));
    client.on('end', () => this.onConnectionLost(client, new Error('connection ended')));
    await client.connect();
    await client.query(`LISTEN ${ACCOUNT_CHANGES_CHANNEL}`);
    this.client = client;
    if (this.connectedOnce) {
      this.logger.info('account change listener reconnected; dropping cached accounts');
      this.emit('resync');
    }
    this.connectedOnce = true;
  }

  private onNotification(message: pg.Notification): void {
    if (message.channel !== ACCOUNT_CHANGES_CHANNEL || !message.payload) return;
    try {
      const change = JSON.parse(message.payload) as AccountChange;
      this.emit('change', change);
    } catch (err) {
      this.logger.error({ err }, 'invalid account change notification; dropping cached accounts');
      this.emit('resync');
    }
  }

  private onConnectionLost(client: pg.Client, err: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.logger.warn({ err }, 'account change listener lost its connection; reconnecting');
    // Changes made while the connection is down are not delivered, so caches are flushed now
    // and again after the reconnect.
    this.emit('resync');
    this.scheduleReconnect(250);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.stopped) return;
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((err: unknown) => {
        this.logger.warn({ err, retry_in_ms: delayMs }, 'account change listener reconnect failed');
        this.scheduleReconnect(Math.min(delayMs * 2, this.maxBackoffMs));
      });
    }, delayMs);
  }
}
