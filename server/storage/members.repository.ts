import { sql, type Expression, type Insertable } from 'kysely';
import { jsonObjectFrom } from 'kysely/helpers/postgres';
import { actorUserId, rowsLimit, rowsToFetch, type Fact } from './access.repository.js';
import type { Executor } from './database.js';
import { likePattern } from './like.js';
import { nextKeyFact, utcMilliseconds } from './rendering.js';
import { preparedWrite } from './write-batch.js';
import type { MembershipRow, MembershipsTable } from './schema.js';

/** A membership with its role and teams: everything its representation shows. */
export type MemberRecord = Omit<MembershipRow, 'joined_at' | 'updated_at'> & {
  joined_at: Date | string;
  updated_at: Date | string;
  role_name: string;
  role_permissions: string[];
  teams: { id: string; name: string; role: 'lead' | 'member' }[];
};

export interface MemberFilter {
  roleId?: string;
  status?: 'active' | 'suspended';
  teamId?: string;
  q?: string;
}

/** Memberships of the organization with their roles (no teams). */
function membershipsWithRoles(ex: Executor, orgId: string) {
  return ex
    .selectFrom('memberships as m')
    .innerJoin('roles as r', (join) =>
      join.onRef('r.org_id', '=', 'm.org_id').onRef('r.id', '=', 'm.role_id'),
    )
    .selectAll('m')
    .select(['r.name as role_name', 'r.permissions as role_permissions'])
    .where('m.org_id', '=', orgId);
}

/** A member's teams as its representation lists them (id, name, role), by name, then id. */
const teamEntry = sql`(select e from (select t.id, t.name, tm.role) e)`;
const teamOrder = sql`t.name, t.id`;
const teamsJoin = sql`team_members tm join teams t on t.org_id = tm.org_id and t.id = tm.team_id`;

/** Memberships with their roles and teams (the teams looked up member by member). */
function membersWithRoles(ex: Executor, orgId: string) {
  return membershipsWithRoles(ex, orgId).select(
    sql<MemberRecord['teams']>`coalesce((select json_agg(${teamEntry} order by ${teamOrder})
      from ${teamsJoin} where tm.org_id = m.org_id and tm.user_id = m.user_id), '[]'::json)`.as(
      'teams',
    ),
  );
}

export async function findMember(
  ex: Executor,
  orgId: string,
  userId: string,
): Promise<MemberRecord | undefined> {
  return membersWithRoles(ex, orgId).where('m.user_id', '=', userId).executeTakeFirst();
}

/** The member, as a fact asked together with the actor (see access.repository). */
export function memberFact(ex: Executor, orgId: string, userId: string | Expression<string>) {
  return jsonObjectFrom(
    membersWithRoles(ex, orgId).where('m.user_id', '=', userId),
  ) as Fact<MemberRecord | null>;
}

/** The calling member's own membership, as a fact asked together with the actor. */
export function currentMemberFact(ex: Executor, orgId: string) {
  return jsonObjectFrom(
    membersWithRoles(ex, orgId).where('m.user_id', '=', actorUserId),
  ) as Fact<MemberRecord | null>;
}

export async function findOwner(ex: Executor, orgId: string): Promise<MemberRecord | undefined> {
  return membersWithRoles(ex, orgId).where('m.role_id', '=', 'owner').executeTakeFirst();
}

/**
 * The values a page of members is asked with, each used unchanged as a query parameter (so the
 * statement can be compiled once per combination of filters, see `preparedRead`): the filters
 * given, the LIKE pattern made from `q`, the keyset position, the page's size and the pattern of
 * an image URL the representation shows; and the number of rows read, written into the statement
 * (one of a few, see `rowsToFetch`).
 */
export type MembersPage = {
  limit: string;
  size: string;
  renderableUrl: string;
  roleId?: string;
  status?: string;
  teamId?: string;
  pattern?: string;
  afterUserId?: string;
};

/**
 * A page of `size` members, filtered, after the position given; an image URL is shown when it
 * matches `renderableUrl` (a regular expression PostgreSQL reads as JavaScript does).
 */
export function membersPage(
  filter: MemberFilter,
  size: number,
  renderableUrl: RegExp,
  afterUserId?: string,
) {
  const page: MembersPage = {
    limit: String(rowsToFetch(size + 1)),
    size: String(size),
    renderableUrl: renderableUrl.source,
  };
  if (filter.roleId !== undefined) page.roleId = filter.roleId;
  if (filter.status !== undefined) page.status = filter.status;
  if (filter.teamId !== undefined) page.teamId = filter.teamId;
  if (filter.q !== undefined) page.pattern = likePattern(filter.q);
  if (afterUserId !== undefined) page.afterUserId = afterUserId;
  return page;
}

/**
 * A page of members as JSON text in the contract's representation (what `toMember` makes of each
 * one, field for field and in its order), written by PostgreSQL: a page of fifty is sent as it
 * comes instead of being parsed into objects and stringified again. The page's rows first, then
 * the teams of all of them in one grouped join (not one lookup per member), found by member through
 * an array of the page's ids: as `in (select …)`, PostgreSQL read every team membership of the
 * organization and kept the page's. A fact asked together
 * with the actor (see access.repository).
 */
export function renderedMembersFact(ex: Executor, orgId: string, page: MembersPage) {
  const p = (column: string) => sql.ref(`p.${column}`);
  return sql<string>`(
    with page as (${membersQuery(ex, orgId, page)}),
    kept as (select * from page order by user_id collate "C" limit ${page.size}::bigint),
    teams_of as (
      select tm.user_id,
        json_agg(${teamEntry} order by ${teamOrder}) as teams
      from ${teamsJoin}
      where tm.org_id = ${orgId} and tm.user_id = any(array(select user_id from kept))
      group by tm.user_id)
    select '[' || coalesce(string_agg(row_to_json(x)::text, ',' order by x."userId" collate "C"), '') || ']'
    from (
      select ${p('org_id')} as "organizationId", ${p('user_id')} as "userId",
        (select u from (select ${p('user_id')} as id, ${p('email')} as email, ${p('name')} as name,
          case when ${p('image_url')} ~ ${page.renderableUrl} then ${p('image_url')} end as "imageUrl") u)
          as "user",
        (select r from (select ${p('role_id')} as id, ${p('role_name')} as name,
          ${p('role_permissions')} as permissions) r) as role,
        ${p('status')} as status,
        coalesce(o.teams, '[]'::json) as teams,
        ${utcMilliseconds(p('joined_at'))} as "joinedAt",
        ${utcMilliseconds(p('updated_at'))} as "updatedAt",
        ${p('version')} as version
      from kept p left join teams_of o on o.user_id = p.user_id) x
  )` as Fact<string>;
}

/** The key the next page starts after (the last of this one), or null when none follows. */
export function nextMemberKeyFact(ex: Executor, orgId: string, page: MembersPage) {
  const keys = membersQuery(ex, orgId, page).clearSelect().select('m.user_id');
  return nextKeyFact(keys, 'user_id', 'asc', page.size);
}

/** Members ordered by user id (bytewise), after the keyset position given. */
function membersQuery(ex: Executor, orgId: string, page: MembersPage) {
  let query = membershipsWithRoles(ex, orgId);
  if (page.roleId !== undefined) query = query.where('m.role_id', '=', page.roleId);
  if (page.status !== undefined) {
    query = query.where('m.status', '=', page.status as MemberRecord['status']);
  }
  if (page.teamId !== undefined) {
    const teamId = page.teamId;
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
  if (page.pattern !== undefined) {
    const pattern = page.pattern;
    query = query.where((eb) =>
      eb.or([
        eb('m.user_id', 'ilike', pattern),
        eb('m.email', 'ilike', pattern),
        eb('m.name', 'ilike', pattern),
      ]),
    );
  }
  if (page.afterUserId !== undefined) {
    query = query.where(sql<boolean>`m.user_id collate "C" > ${page.afterUserId} collate "C"`);
  }
  return query.orderBy(sql`m.user_id collate "C"`).limit(rowsLimit(page.limit));
}

export async function insertMember(ex: Executor, row: Insertable<MembershipsTable>) {
  await ex.insertInto('memberships').values(row).execute();
}

/**
 * A change in one conditional write: with `expectedVersion` the row changes only if it still has
 * that version. Returns the rows it changed.
 */
function updateMemberQuery(
  ex: Executor,
  orgId: string,
  userId: string,
  changes: MemberChanges,
  now: Date,
  expectedVersion?: number,
) {
  let query = ex
    .updateTable('memberships')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('user_id', '=', userId);
  if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
  return query.returning('version');
}

type MemberChanges = { role_id?: string; status?: 'active' | 'suspended' };

/** As `updateMemberQuery`, to run with a change's other last writes (compiled once per shape). */
export const updateMemberWrite = preparedWrite(updateMemberQuery);

/** As `updateMemberWrite`, run now; false when no row matched. */
export async function updateMember(
  ex: Executor,
  orgId: string,
  userId: string,
  changes: MemberChanges,
  now: Date,
  expectedVersion?: number,
): Promise<boolean> {
  const rows = await updateMemberQuery(ex, orgId, userId, changes, now, expectedVersion).execute();
  return rows.length > 0;
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
