import { sql, type Kysely } from 'kysely';

/**
 * Idempotency keys live in the database, so a retry is recognised by whichever server process it
 * reaches. A key is scoped to the API key that sent it and kept 24 hours.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table idempotency_keys (
      scope text not null,
      key text not null,
      fingerprint text not null,
      state text not null check (state in ('in_progress', 'done')),
      status integer,
      headers jsonb,
      body jsonb,
      created_at timestamptz not null,
      primary key (scope, key)
    );
    create index idempotency_keys_by_age on idempotency_keys (created_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table idempotency_keys`.execute(db);
}
