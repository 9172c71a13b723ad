import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

/** An agency's customer. API keys are stored as SHA-256 hashes, never in clear. */
export interface ClientsTable {
  client_id: Generated<string>;
  name: string;
  api_key_hash: string;
  /** First characters of the key, shown in listings so operators can tell keys apart. */
  api_key_prefix: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** Routing registry: one row per Instagram professional account. */
export interface IgAccountsTable {
  ig_business_id: string;
  client_id: string;
  username: string;
  page_id: string | null;
  /** KMS-encrypted AES-256 data key of the envelope. */
  token_encrypted_key: Buffer;
  token_iv: Buffer;
  token_ciphertext: Buffer;
  token_auth_tag: Buffer;
  token_kms_key_id: string;
  token_expires_at: Date | null;
  active: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** Instagram-scoped user ids seen per account; the same person has one IGSID per account. */
export interface IgsidsTable {
  ig_business_id: string;
  igsid: string;
  client_id: string;
  first_seen_at: Date;
  /** Time of the user's last inbound message; the 24-hour messaging window starts here. */
  last_inbound_at: Date | null;
  last_event_id: string;
  updated_at: Timestamp;
}

export type MessageDirection = 'inbound' | 'echo' | 'outbound';

/** Conversation log built by the projector from `ig.events` and `ig.outbound.results`. */
export interface MessagesTable {
  /** `event_id` for inbound and echo rows, `command_id` for outbound rows. */
  message_key: string;
  ig_business_id: string;
  client_id: string;
  igsid: string;
  direction: MessageDirection;
  mid: string | null;
  text: string | null;
  event_type: string;
  occurred_at: Date;
  deleted: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type SendState =
  | 'pending'
  | 'in_flight'
  | 'parked'
  | 'sent'
  | 'failed'
  | 'expired'
  | 'ambiguous';

/** State of each send command, written before and after the Graph call. */
export interface SendsTable {
  command_id: string;
  ig_business_id: string;
  client_id: string;
  recipient_id: string;
  state: SendState;
  attempts: Generated<number>;
  message_id: string | null;
  error: unknown | null;
  result: unknown | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  completed_at: Date | null;
}

export interface Database {
  clients: ClientsTable;
  ig_accounts: IgAccountsTable;
  igsids: IgsidsTable;
  messages: MessagesTable;
  sends: SendsTable;
}

export type Client = Selectable<ClientsTable>;
export type NewClient = Insertable<ClientsTable>;
export type IgAccount = Selectable<IgAccountsTable>;
export type NewIgAccount = Insertable<IgAccountsTable>;
export type IgAccountUpdate = Updateable<IgAccountsTable>;
export type Igsid = Selectable<IgsidsTable>;
export type Message = Selectable<MessagesTable>;
export type Send = Selectable<SendsTable>;
