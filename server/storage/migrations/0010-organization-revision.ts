import { sql, type Kysely } from 'kysely';

/**
 * An organization's revision: a random id every change gives it, in the transaction of the change
 * (taking the organization's lock gives a new one, and every write inside an organization takes
 * that lock first). A page read at one revision is the page at every later read of that revision,
 * so the service may send a page it rendered before instead of rendering it again, once the
 * database has said, in the same statement that authenticates the caller, that the revision is
 * the same. Random, not a count: a database restored to an earlier point (or a replica promoted
 * while behind) would count again through numbers a process kept pages for.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table organizations add column revision uuid not null default gen_random_uuid()`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table organizations drop column revision`.execute(db);
}
