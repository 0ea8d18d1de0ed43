import type { Executor } from './database.js';
import { likePattern } from './like.js';
import { openAt } from './invitations.repository.js';
import type { OrganizationRow, OrganizationsTable } from './schema.js';
import { sql, type Insertable } from 'kysely';

export async function insertOrganization(ex: Executor, row: Insertable<OrganizationsTable>) {
  await ex.insertInto('organizations').values(row).execute();
}

export async function findOrganization(
  ex: Executor,
  orgId: string,
): Promise<OrganizationRow | undefined> {
  return ex.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirst();
}

export async function updateOrganization(
  ex: Executor,
  orgId: string,
  changes: { name?: string; slug?: string; max_members?: number | null },
  now: Date,
): Promise<OrganizationRow> {
  return ex
    .updateTable('organizations')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('id', '=', orgId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Organizations ordered by id (bytewise), optionally whose name or slug contains `q`. */
export async function listOrganizations(
  ex: Executor,
  filter: { q?: string },
  limit: number,
  now: Date,
  afterId?: string,
): Promise<(OrganizationRow & { member_count: number; pending_count: number })[]> {
  let query = ex
    .selectFrom('organizations as o')
    .selectAll('o')
    .select((eb) => [
      eb
        .selectFrom('memberships as m')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('m.org_id', '=', 'o.id')
        .$asScalar()
        .$notNull()
        .as('member_count'),
      eb
        .selectFrom('invitations as i')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('i.org_id', '=', 'o.id')
        .where(openAt(now, 'i'))
        .$asScalar()
        .$notNull()
        .as('pending_count'),
    ]);
  if (filter.q) {
    const pattern = likePattern(filter.q);
    query = query.where((eb) =>
      eb.or([eb('o.name', 'ilike', pattern), eb('o.slug', 'ilike', pattern)]),
    );
  }
  if (afterId !== undefined)
    query = query.where(sql<boolean>`o.id collate "C" > ${afterId} collate "C"`);
  return query
    .orderBy(sql`o.id collate "C"`)
    .limit(limit)
    .execute();
}

/**
 * Deletes the organization and everything of it. Its audit trail goes too: the append-only
 * trigger lets DELETE through only in a transaction that declares it is deleting an organization.
 */
export async function deleteOrganizationRows(trx: Executor, orgId: string) {
  await sql`select set_config('member_roles.deleting_organization', ${orgId}, true)`.execute(trx);
  await trx.deleteFrom('audit_events').where('org_id', '=', orgId).execute();
  await trx.deleteFrom('organizations').where('id', '=', orgId).execute();
  await sql`select set_config('member_roles.deleting_organization', '', true)`.execute(trx);
}

/** A user's memberships across organizations, ordered by organization id (bytewise). */
export async function listUserMemberships(
  ex: Executor,
  userId: string,
  limit: number,
  afterOrgId?: string,
) {
  let query = ex
    .selectFrom('memberships as m')
    .innerJoin('organizations as o', 'o.id', 'm.org_id')
    .innerJoin('roles as r', (join) =>
      join.onRef('r.org_id', '=', 'm.org_id').onRef('r.id', '=', 'm.role_id'),
    )
    .select([
      'o.id as org_id',
      'o.name as org_name',
      'o.slug as org_slug',
      'r.id as role_id',
      'r.name as role_name',
      'm.status',
      'm.joined_at',
    ])
    .where('m.user_id', '=', userId);
  if (afterOrgId !== undefined) {
    query = query.where(sql<boolean>`m.org_id collate "C" > ${afterOrgId} collate "C"`);
  }
  return query
    .orderBy(sql`m.org_id collate "C"`)
    .limit(limit)
    .execute();
}
