import { sql, type Kysely } from 'kysely';

/**
 * Access decisions name a team by its id alone (`team_…`, a ULID), so the team, and through it
 * its organization, is found by id without knowing the organization first.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index teams_by_id on teams (id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index teams_by_id`.execute(db);
}
