import { sql, type Insertable } from 'kysely';
import type { Executor } from './database.js';
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
