import { sql, type Insertable } from 'kysely';
import type { Executor } from './database.js';
import type { TeamMemberRow, TeamRow, TeamsTable } from './schema.js';

export type TeamRecord = TeamRow & { member_count: number };
export type TeamMemberRecord = TeamMemberRow & {
  email: string;
  name: string | null;
  image_url: string | null;
};

function teamsWithCounts(ex: Executor, orgId: string) {
  return ex
    .selectFrom('teams as t')
    .selectAll('t')
    .select((eb) =>
      eb
        .selectFrom('team_members as tm')
        .whereRef('tm.org_id', '=', 't.org_id')
        .whereRef('tm.team_id', '=', 't.id')
        .select(sql<number>`count(*)::int`.as('n'))
        .as('member_count'),
    )
    .where('t.org_id', '=', orgId);
}

const withCount = <T extends { member_count: number | null }>(row: T) => ({
  ...row,
  member_count: Number(row.member_count ?? 0),
});

export async function findTeam(
  ex: Executor,
  orgId: string,
  teamId: string,
): Promise<TeamRecord | undefined> {
  const row = await teamsWithCounts(ex, orgId).where('t.id', '=', teamId).executeTakeFirst();
  return row ? withCount(row) : undefined;
}

export async function findTeamByName(ex: Executor, orgId: string, name: string) {
  return ex
    .selectFrom('teams')
    .select('id')
    .where('org_id', '=', orgId)
    .where(sql<string>`lower(name)`, '=', name.toLowerCase())
    .executeTakeFirst();
}

export async function listTeams(
  ex: Executor,
  orgId: string,
  limit: number,
  afterId?: string,
): Promise<TeamRecord[]> {
  let query = teamsWithCounts(ex, orgId);
  if (afterId !== undefined) query = query.where('t.id', '>', afterId);
  return (await query.orderBy('t.id').limit(limit).execute()).map(withCount);
}

export async function insertTeam(ex: Executor, row: Insertable<TeamsTable>) {
  await ex.insertInto('teams').values(row).execute();
}

export async function updateTeam(
  ex: Executor,
  orgId: string,
  teamId: string,
  changes: { name?: string; description?: string | null },
  now: Date,
  expectedVersion: number,
): Promise<boolean> {
  const result = await ex
    .updateTable('teams')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', '=', teamId)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteTeam(
  ex: Executor,
  orgId: string,
  teamId: string,
  expectedVersion: number,
): Promise<boolean> {
  const result = await ex
    .deleteFrom('teams')
    .where('org_id', '=', orgId)
    .where('id', '=', teamId)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

function teamMembers(ex: Executor, orgId: string, teamId: string) {
  return ex
    .selectFrom('team_members as tm')
    .innerJoin('memberships as m', (join) =>
      join.onRef('m.org_id', '=', 'tm.org_id').onRef('m.user_id', '=', 'tm.user_id'),
    )
    .selectAll('tm')
    .select(['m.email', 'm.name', 'm.image_url'])
    .where('tm.org_id', '=', orgId)
    .where('tm.team_id', '=', teamId);
}

export async function findTeamMember(
  ex: Executor,
  orgId: string,
  teamId: string,
  userId: string,
): Promise<TeamMemberRecord | undefined> {
  return teamMembers(ex, orgId, teamId).where('tm.user_id', '=', userId).executeTakeFirst();
}

export async function listTeamMembers(
  ex: Executor,
  orgId: string,
  teamId: string,
  limit: number,
  afterUserId?: string,
): Promise<TeamMemberRecord[]> {
  let query = teamMembers(ex, orgId, teamId);
  if (afterUserId !== undefined) {
    query = query.where(sql<boolean>`tm.user_id collate "C" > ${afterUserId} collate "C"`);
  }
  return query
    .orderBy(sql`tm.user_id collate "C"`)
    .limit(limit)
    .execute();
}

export async function upsertTeamMember(
  ex: Executor,
  row: { org_id: string; team_id: string; user_id: string; role: 'lead' | 'member' },
  now: Date,
) {
  await ex
    .insertInto('team_members')
    .values({ ...row, added_at: now, updated_at: now })
    .onConflict((oc) =>
      oc.columns(['org_id', 'team_id', 'user_id']).doUpdateSet({ role: row.role, updated_at: now }),
    )
    .execute();
}

export async function deleteTeamMember(
  ex: Executor,
  orgId: string,
  teamId: string,
  userId: string,
) {
  await ex
    .deleteFrom('team_members')
    .where('org_id', '=', orgId)
    .where('team_id', '=', teamId)
    .where('user_id', '=', userId)
    .execute();
}

export async function countTeams(ex: Executor, orgId: string): Promise<number> {
  const row = await ex
    .selectFrom('teams')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('org_id', '=', orgId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Adds a member to a team, as a write to run with others. */
export function insertTeamMemberWrite(
  ex: Executor,
  row: { org_id: string; team_id: string; user_id: string; role: 'lead' | 'member' },
  now: Date,
) {
  return ex
    .insertInto('team_members')
    .values({ ...row, added_at: now, updated_at: now })
    .returning('team_id');
}

/** As `touchTeams`, as a write to run with others (at least one team id). */
export function touchTeamsWrite(
  ex: Executor,
  orgId: string,
  teamIds: readonly string[],
  now: Date,
) {
  return ex
    .updateTable('teams')
    .set((eb) => ({ updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', 'in', [...new Set(teamIds)])
    .returning('id');
}

/** Steps the version of teams whose member count changed. */
export async function touchTeams(
  ex: Executor,
  orgId: string,
  teamIds: readonly string[],
  now: Date,
) {
  const ids = [...new Set(teamIds)];
  if (ids.length === 0) return;
  await ex
    .updateTable('teams')
    .set((eb) => ({ updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', 'in', ids)
    .execute();
}

export async function teamIdsOf(ex: Executor, orgId: string, userId: string): Promise<string[]> {
  const rows = await ex
    .selectFrom('team_members')
    .select('team_id')
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId)
    .execute();
  return rows.map((row) => row.team_id);
}
