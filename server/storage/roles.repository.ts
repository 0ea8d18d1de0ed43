import { sql, type Insertable } from 'kysely';
import { jsonObjectFrom } from 'kysely/helpers/postgres';
import type { Fact } from './access.repository.js';
import type { Executor } from './database.js';
import { preparedWrite } from './write-batch.js';
import type { RoleRow, RolesTable } from './schema.js';

export type RoleRecord = RoleRow & { member_count: number };

export async function insertRoles(ex: Executor, rows: Insertable<RolesTable>[]) {
  await ex.insertInto('roles').values(rows).execute();
}

function rolesWithCounts(ex: Executor, orgId: string) {
  return ex
    .selectFrom('roles as r')
    .selectAll('r')
    .select((eb) =>
      eb
        .selectFrom('memberships as m')
        .whereRef('m.org_id', '=', 'r.org_id')
        .whereRef('m.role_id', '=', 'r.id')
        .select(sql<number>`count(*)::int`.as('n'))
        .as('member_count'),
    )
    .where('r.org_id', '=', orgId);
}

export async function findRole(
  ex: Executor,
  orgId: string,
  roleId: string,
): Promise<RoleRecord | undefined> {
  const row = await rolesWithCounts(ex, orgId).where('r.id', '=', roleId).executeTakeFirst();
  return row ? { ...row, member_count: Number(row.member_count ?? 0) } : undefined;
}

export async function findDefaultRole(ex: Executor, orgId: string): Promise<RoleRow | undefined> {
  return ex
    .selectFrom('roles')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('is_default', '=', true)
    .executeTakeFirst();
}

/** Roles in display order (built-in first, then custom by id), after the keyset position given. */
export async function listRoles(
  ex: Executor,
  orgId: string,
  limit: number,
  after?: { rank: number; id: string },
): Promise<RoleRecord[]> {
  let query = rolesWithCounts(ex, orgId);
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb('r.rank', '>', after.rank),
        eb.and([eb('r.rank', '=', after.rank), eb('r.id', '>', after.id)]),
      ]),
    );
  }
  const rows = await query.orderBy('r.rank').orderBy('r.id').limit(limit).execute();
  return rows.map((row) => ({ ...row, member_count: Number(row.member_count ?? 0) }));
}

export async function findRoleByName(
  ex: Executor,
  orgId: string,
  name: string,
): Promise<RoleRow | undefined> {
  return ex
    .selectFrom('roles')
    .selectAll()
    .where('org_id', '=', orgId)
    .where(sql<string>`lower(name)`, '=', name.toLowerCase())
    .executeTakeFirst();
}

/**
 * Makes `roleId` the organization's one default role (the index allows only one). Both roles
 * whose flag flips get a new version, since their representation changed.
 */
export async function makeDefaultRole(
  ex: Executor,
  orgId: string,
  roleId: string,
  now: Date,
): Promise<{ cleared: string[]; set: boolean }> {
  const cleared = await ex
    .updateTable('roles')
    .set((eb) => ({ is_default: false, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('is_default', '=', true)
    .where('id', '!=', roleId)
    .returning('id')
    .execute();
  const set = await ex
    .updateTable('roles')
    .set((eb) => ({ is_default: true, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', '=', roleId)
    .where('is_default', '=', false)
    .executeTakeFirst();
  return { cleared: cleared.map((row) => row.id), set: set.numUpdatedRows > 0n };
}

/** A conditional write: changes the role only if it still has `expectedVersion`. */
export async function updateRole(
  ex: Executor,
  orgId: string,
  roleId: string,
  changes: {
    name?: string;
    description?: string | null;
    permissions?: string[];
    is_default?: boolean;
  },
  now: Date,
  expectedVersion: number,
): Promise<boolean> {
  const result = await ex
    .updateTable('roles')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', '=', roleId)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteRole(
  ex: Executor,
  orgId: string,
  roleId: string,
  expectedVersion: number,
): Promise<boolean> {
  const result = await ex
    .deleteFrom('roles')
    .where('org_id', '=', orgId)
    .where('id', '=', roleId)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Steps the version of roles whose member count changed. */
export async function touchRoles(
  ex: Executor,
  orgId: string,
  roleIds: readonly string[],
  now: Date,
) {
  if (roleIds.length > 0) await touchRolesQuery(ex, orgId, roleIds, now).execute();
}

/** As `touchRoles`, to run with a change's other last writes (at least one role id). */
export const touchRolesWrite = preparedWrite(touchRolesQuery);

function touchRolesQuery(ex: Executor, orgId: string, roleIds: readonly string[], now: Date) {
  return ex
    .updateTable('roles')
    .set((eb) => ({ updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', 'in', [...new Set(roleIds)])
    .returning('id');
}

/** A role's id, name and permissions, as a fact asked together with the actor. */
export function roleRefFact(ex: Executor, orgId: string, roleId: string) {
  return jsonObjectFrom(
    ex
      .selectFrom('roles')
      .select(['id', 'name', 'permissions'])
      .where('org_id', '=', orgId)
      .where('id', '=', roleId),
  ) as Fact<{ id: string; name: string; permissions: string[] } | null>;
}
