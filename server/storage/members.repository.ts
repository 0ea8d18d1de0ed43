import { sql, type Insertable } from 'kysely';
import type { Executor } from './database.js';
import type { MembershipRow, MembershipsTable } from './schema.js';

export type MemberRecord = MembershipRow & { role_name: string; role_permissions: string[] };
export interface MemberTeamRecord {
  user_id: string;
  team_id: string;
  team_name: string;
  role: 'lead' | 'member';
}

export interface MemberFilter {
  roleId?: string;
  status?: 'active' | 'suspended';
  teamId?: string;
  q?: string;
}

function membersWithRoles(ex: Executor, orgId: string) {
  return ex
    .selectFrom('memberships as m')
    .innerJoin('roles as r', (join) =>
      join.onRef('r.org_id', '=', 'm.org_id').onRef('r.id', '=', 'm.role_id'),
    )
    .selectAll('m')
    .select(['r.name as role_name', 'r.permissions as role_permissions'])
    .where('m.org_id', '=', orgId);
}

export async function findMember(
  ex: Executor,
  orgId: string,
  userId: string,
): Promise<MemberRecord | undefined> {
  return membersWithRoles(ex, orgId).where('m.user_id', '=', userId).executeTakeFirst();
}

export async function findOwner(ex: Executor, orgId: string): Promise<MemberRecord | undefined> {
  return membersWithRoles(ex, orgId).where('m.role_id', '=', 'owner').executeTakeFirst();
}

/** Escapes LIKE wildcards so a search term is matched literally. */
function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Members ordered by user id (bytewise), after the keyset position given. */
export async function listMembers(
  ex: Executor,
  orgId: string,
  filter: MemberFilter,
  limit: number,
  afterUserId?: string,
): Promise<MemberRecord[]> {
  let query = membersWithRoles(ex, orgId);
  if (filter.roleId) query = query.where('m.role_id', '=', filter.roleId);
  if (filter.status) query = query.where('m.status', '=', filter.status);
  if (filter.teamId) {
    const teamId = filter.teamId;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('team_members as tm')
          .select(sql`1`.as('one'))
          .whereRef('tm.org_id', '=', 'm.org_id')
          .whereRef('tm.user_id', '=', 'm.user_id')
          .where('tm.team_id', '=', teamId),
      ),
    );
  }
  if (filter.q) {
    const pattern = likePattern(filter.q);
    query = query.where((eb) =>
      eb.or([
        eb('m.user_id', 'ilike', pattern),
        eb('m.email', 'ilike', pattern),
        eb('m.name', 'ilike', pattern),
      ]),
    );
  }
  if (afterUserId !== undefined) {
    query = query.where(sql<boolean>`m.user_id collate "C" > ${afterUserId} collate "C"`);
  }
  return query
    .orderBy(sql`m.user_id collate "C"`)
    .limit(limit)
    .execute();
}

export async function teamsOfMembers(
  ex: Executor,
  orgId: string,
  userIds: readonly string[],
): Promise<MemberTeamRecord[]> {
  if (userIds.length === 0) return [];
  return ex
    .selectFrom('team_members as tm')
    .innerJoin('teams as t', (join) =>
      join.onRef('t.org_id', '=', 'tm.org_id').onRef('t.id', '=', 'tm.team_id'),
    )
    .select(['tm.user_id', 'tm.team_id', 't.name as team_name', 'tm.role'])
    .where('tm.org_id', '=', orgId)
    .where('tm.user_id', 'in', userIds)
    .orderBy('t.name')
    .orderBy('t.id')
    .execute();
}

export async function insertMember(ex: Executor, row: Insertable<MembershipsTable>) {
  await ex.insertInto('memberships').values(row).execute();
}

/**
 * Applies a change in one conditional write. With `expectedVersion` the row changes only if it
 * still has that version. Returns false when no row matched.
 */
export async function updateMember(
  ex: Executor,
  orgId: string,
  userId: string,
  changes: { role_id?: string; status?: 'active' | 'suspended' },
  now: Date,
  expectedVersion?: number,
): Promise<boolean> {
  let query = ex
    .updateTable('memberships')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId);
  if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
  const result = await query.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteMember(
  ex: Executor,
  orgId: string,
  userId: string,
  expectedVersion?: number,
): Promise<boolean> {
  let query = ex
    .deleteFrom('memberships')
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId);
  if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
  const result = await query.executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Moves every holder of one role to another in one statement; returns who moved. */
export async function reassignRole(
  ex: Executor,
  orgId: string,
  fromRoleId: string,
  toRoleId: string,
  now: Date,
): Promise<string[]> {
  const rows = await ex
    .updateTable('memberships')
    .set((eb) => ({ role_id: toRoleId, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('role_id', '=', fromRoleId)
    .returning('user_id')
    .execute();
  return rows.map((row) => row.user_id).sort();
}

/**
 * Steps the version of members whose representation changed through something else (their
 * role's name or permissions, their teams), so a strong ETag never names two different bodies.
 */
export async function touchMembers(
  ex: Executor,
  orgId: string,
  which: { userIds: readonly string[] } | { roleId: string } | { teamId: string },
  now: Date,
) {
  let query = ex
    .updateTable('memberships')
    .set((eb) => ({ updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId);
  if ('userIds' in which) {
    if (which.userIds.length === 0) return;
    query = query.where('user_id', 'in', which.userIds);
  } else if ('roleId' in which) {
    query = query.where('role_id', '=', which.roleId);
  } else {
    const { teamId } = which;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('team_members as tm')
          .select(sql`1`.as('one'))
          .whereRef('tm.org_id', '=', 'memberships.org_id')
          .whereRef('tm.user_id', '=', 'memberships.user_id')
          .where('tm.team_id', '=', teamId),
      ),
    );
  }
  await query.execute();
}
