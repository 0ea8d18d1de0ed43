import type { Executor } from './database.js';
import type { OrganizationRow, OrganizationsTable } from './schema.js';
import type { Insertable } from 'kysely';

export async function insertOrganization(ex: Executor, row: Insertable<OrganizationsTable>) {
  await ex.insertInto('organizations').values(row).execute();
}

export async function findOrganization(
  ex: Executor,
  orgId: string,
): Promise<OrganizationRow | undefined> {
  return ex.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirst();
}

/**
 * Locks the organization row for the rest of the transaction. Every write inside one
 * organization takes this lock first, so writes to one organization are serialized and its
 * invariants (one owner, role assignments against live roles) cannot be raced. FOR NO KEY UPDATE
 * leaves foreign-key checks from other tables unblocked.
 */
export async function lockOrganization(
  ex: Executor,
  orgId: string,
): Promise<OrganizationRow | undefined> {
  return ex
    .selectFrom('organizations')
    .selectAll()
    .where('id', '=', orgId)
    .forNoKeyUpdate()
    .executeTakeFirst();
}

export async function updateOrganization(
  ex: Executor,
  orgId: string,
  changes: { name?: string; slug?: string },
  now: Date,
): Promise<OrganizationRow> {
  return ex
    .updateTable('organizations')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('id', '=', orgId)
    .returningAll()
    .executeTakeFirstOrThrow();
}
