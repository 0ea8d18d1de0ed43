import { sql, type Kysely } from 'kysely';

/** One-minute request windows per API key, shared by every server process on one PostgreSQL. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table rate_limit_windows (
      bucket text primary key,
      window_start timestamptz not null,
      count integer not null
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table rate_limit_windows`.execute(db);
}
