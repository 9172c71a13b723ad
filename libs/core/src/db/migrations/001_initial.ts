import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('clients')
    .addColumn('client_id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (col) => col.notNull().unique())
    .addColumn('api_key_hash', 'text', (col) => col.notNull().unique())
    .addColumn('api_key_prefix', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('ig_accounts')
    .addColumn('ig_business_id', 'text', (col) => col.primaryKey())
    .addColumn('client_id', 'uuid', (col) =>
      col.notNull().references('clients.client_id').onDelete('restrict'),
    )
    .addColumn('username', 'text', (col) => col.notNull())
    .addColumn('page_id', 'text')
    .addColumn('token_encrypted_key', 'bytea', (col) => col.notNull())
    .addColumn('token_iv', 'bytea', (col) => col.notNull())
    .addColumn('token_ciphertext', 'bytea', (col) => col.notNull())
    .addColumn('token_auth_tag', 'bytea', (col) => col.notNull())
    .addColumn('token_kms_key_id', 'text', (col) => col.notNull())
    .addColumn('token_expires_at', 'timestamptz')
    .addColumn('active', 'boolean', (col) => col.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('ig_accounts_id_digits', sql`ig_business_id ~ '^[0-9]+$'`)
    .execute();
  await db.schema
    .createIndex('ig_accounts_client_idx')
    .on('ig_accounts')
    .columns(['client_id', 'ig_business_id'])
    .execute();

  await db.schema
    .createTable('igsids')
    .addColumn('ig_business_id', 'text', (col) =>
      col.notNull().references('ig_accounts.ig_business_id').onDelete('cascade'),
    )
    .addColumn('igsid', 'text', (col) => col.notNull())
    .addColumn('client_id', 'uuid', (col) => col.notNull())
    .addColumn('first_seen_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_inbound_at', 'timestamptz')
    .addColumn('last_event_id', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('igsids_pk', ['ig_business_id', 'igsid'])
    .execute();
  await db.schema
    .createIndex('igsids_client_idx')
    .on('igsids')
    .columns(['client_id', 'ig_business_id', 'igsid'])
    .execute();

  await db.schema
    .createTable('messages')
    .addColumn('message_key', 'text', (col) => col.notNull())
    .addColumn('ig_business_id', 'text', (col) =>
      col.notNull().references('ig_accounts.ig_business_id').onDelete('cascade'),
    )
    .addColumn('client_id', 'uuid', (col) => col.notNull())
    .addColumn('igsid', 'text', (col) => col.notNull())
    .addColumn('direction', 'text', (col) =>
      col.notNull().check(sql`direction in ('inbound', 'echo', 'outbound')`),
    )
    .addColumn('mid', 'text')
    .addColumn('text', 'text')
    .addColumn('event_type', 'text', (col) => col.notNull())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull())
    .addColumn('deleted', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('messages_pk', ['ig_business_id', 'message_key'])
    .execute();
  await db.schema
    .createIndex('messages_conversation_idx')
    .on('messages')
    .columns(['client_id', 'ig_business_id', 'igsid', 'occurred_at'])
    .execute();
  await db.schema
    .createIndex('messages_mid_idx')
    .on('messages')
    .columns(['ig_business_id', 'mid'])
    .execute();

  await db.schema
    .createTable('sends')
    .addColumn('command_id', 'text', (col) => col.primaryKey())
    .addColumn('ig_business_id', 'text', (col) => col.notNull())
    .addColumn('client_id', 'uuid', (col) => col.notNull())
    .addColumn('recipient_id', 'text', (col) => col.notNull())
    .addColumn('state', 'text', (col) =>
      col
        .notNull()
        .check(
          sql`state in ('pending', 'in_flight', 'parked', 'sent', 'failed', 'expired', 'ambiguous')`,
        ),
    )
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('message_id', 'text')
    .addColumn('error', 'jsonb')
    .addColumn('result', 'jsonb')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('sends_client_idx')
    .on('sends')
    .columns(['client_id', 'ig_business_id', 'command_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sends').ifExists().execute();
  await db.schema.dropTable('messages').ifExists().execute();
  await db.schema.dropTable('igsids').ifExists().execute();
  await db.schema.dropTable('ig_accounts').ifExists().execute();
  await db.schema.dropTable('clients').ifExists().execute();
}
