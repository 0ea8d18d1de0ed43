import { sql, type Kysely } from 'kysely';

/**
 * An organization's revision: a count its every change raises, in the transaction of the change
 * (taking the organization's lock raises it, and every write inside an organization takes that
 * lock first). A page read at one revision is the page at every later read of that revision, so
 * the service may send a page it rendered before instead of rendering it again, once the database
 * has said, in the same statement that authenticates the caller, that the revision is the same.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table organizations add column revision bigint not null default 0`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table organizations drop column revision`.execute(db);
}
