import { sql, type Insertable } from 'kysely';
import { jsonArrayFrom, jsonObjectFrom } from 'kysely/helpers/postgres';
import { rowsLimit, rowsToFetch, type Fact } from './access.repository.js';
import { memberFact, type MemberRecord } from './members.repository.js';
import type { Executor } from './database.js';
import type { InvitationRow, InvitationStatus, InvitationsTable } from './schema.js';

/** An invitation with its role (null when the role was deleted) and the teams it joins. */
export type InvitationRecord = Omit<
  InvitationRow,
  'created_at' | 'expires_at' | 'responded_at' | 'updated_at'
> & {
  created_at: Date | string;
  expires_at: Date | string;
  responded_at: Date | string | null;
  updated_at: Date | string;
  role_name: string | null;
  role_permissions: string[] | null;
  teams: { id: string; name: string; role: 'lead' | 'member' }[];
};

/**
 * An invitation still open at `now`: pending in storage and its time not passed (an expired one
 * stays `pending` until something touches it). The one definition every count and filter uses.
 */
export function openAt(now: Date, table?: 'i') {
  const column = (name: 'status' | 'expires_at') => sql.ref(table ? `${table}.${name}` : name);
  return sql<boolean>`(${column('status')} = 'pending' and ${column('expires_at')} > ${now})`;
}

export interface InvitationFilter {
  status?: InvitationStatus;
  email?: string;
}

function invitationsWithRoles(ex: Executor, orgId: string) {
  return ex
    .selectFrom('invitations as i')
    .leftJoin('roles as r', (join) =>
      join.onRef('r.org_id', '=', 'i.org_id').onRef('r.id', '=', 'i.role_id'),
    )
    .selectAll('i')
    .select(['r.name as role_name', 'r.permissions as role_permissions'])
    .select((eb) =>
      jsonArrayFrom(
        eb
          .selectFrom('invitation_teams as it')
          .innerJoin('teams as t', (join) =>
            join.onRef('t.org_id', '=', 'it.org_id').onRef('t.id', '=', 'it.team_id'),
          )
          .select(['t.id', 't.name', 'it.role'])
          .whereRef('it.org_id', '=', 'i.org_id')
          .whereRef('it.invitation_id', '=', 'i.id')
          .orderBy('t.name')
          .orderBy('t.id'),
      ).as('teams'),
    )
    .where('i.org_id', '=', orgId);
}

export async function findInvitation(
  ex: Executor,
  orgId: string,
  id: string,
): Promise<InvitationRecord | undefined> {
  return invitationsWithRoles(ex, orgId).where('i.id', '=', id).executeTakeFirst();
}

export async function findInvitationByToken(
  ex: Executor,
  orgId: string,
  tokenHash: string,
): Promise<InvitationRecord | undefined> {
  return invitationsWithRoles(ex, orgId).where('i.token_hash', '=', tokenHash).executeTakeFirst();
}

/** The organization an invitation token belongs to (the token is the only thing a guest has). */
export async function organizationOfToken(
  ex: Executor,
  tokenHash: string,
): Promise<string | undefined> {
  const row = await ex
    .selectFrom('invitations')
    .select('org_id')
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  return row?.org_id;
}

/** The invitation, as a fact asked together with the actor (see access.repository). */
export function invitationFact(ex: Executor, orgId: string, id: string) {
  return jsonObjectFrom(
    invitationsWithRoles(ex, orgId).where('i.id', '=', id),
  ) as Fact<InvitationRecord | null>;
}

/**
 * A page of invitations in id order (the order they were made), as a fact: at least `limit` rows
 * (see `rowsToFetch`). `expired` is a status in storage, or a pending invitation whose time has
 * passed at `now`.
 */
export function invitationsPageFact(
  ex: Executor,
  orgId: string,
  filter: InvitationFilter,
  now: Date,
  limit: number,
  afterId?: string,
) {
  let query = invitationsWithRoles(ex, orgId);
  if (filter.status === 'pending') {
    query = query.where(openAt(now, 'i'));
  } else if (filter.status === 'expired') {
    query = query.where((eb) =>
      eb.or([
        eb('i.status', '=', 'expired'),
        eb.and([eb('i.status', '=', 'pending'), eb.not(openAt(now, 'i'))]),
      ]),
    );
  } else if (filter.status) {
    query = query.where('i.status', '=', filter.status);
  }
  if (filter.email) {
    query = query.where(sql<boolean>`lower(i.email) = lower(${filter.email})`);
  }
  if (afterId !== undefined) {
    query = query.where(sql<boolean>`i.id collate "C" > ${afterId} collate "C"`);
  }
  return jsonArrayFrom(
    query.orderBy(sql`i.id collate "C"`).limit(rowsLimit(rowsToFetch(limit))),
  ) as Fact<InvitationRecord[]>;
}

/** The pending invitation for this email (case-insensitively), whether or not its time passed. */
export async function findPendingByEmail(ex: Executor, orgId: string, email: string) {
  return ex
    .selectFrom('invitations')
    .select(['id', 'expires_at'])
    .where('org_id', '=', orgId)
    .where('status', '=', 'pending')
    .where(sql<boolean>`lower(email) = lower(${email})`)
    .executeTakeFirst();
}

export async function insertInvitation(
  ex: Executor,
  row: Insertable<InvitationsTable>,
  teams: readonly { teamId: string; role: 'lead' | 'member' }[],
) {
  await ex.insertInto('invitations').values(row).execute();
  if (teams.length > 0) {
    await ex
      .insertInto('invitation_teams')
      .values(
        teams.map((t) => ({
          org_id: row.org_id,
          invitation_id: row.id,
          team_id: t.teamId,
          role: t.role,
        })),
      )
      .execute();
  }
}

/** Changes an invitation if it still has the version read under the lock; false otherwise. */
export async function updateInvitation(
  ex: Executor,
  orgId: string,
  id: string,
  changes: Partial<
    Pick<
      Insertable<InvitationsTable>,
      'status' | 'token_hash' | 'expires_at' | 'responded_at' | 'invited_by'
    >
  >,
  now: Date,
  expectedVersion: number,
): Promise<boolean> {
  const rows = await ex
    .updateTable('invitations')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returning('version')
    .execute();
  return rows.length > 0;
}

/** Pending invitations (whose time has not passed) that offer the role. */
export async function pendingInvitationsOffering(
  ex: Executor,
  orgId: string,
  roleId: string,
  now: Date,
): Promise<number> {
  const { rows } = await sql<{ offered: number }>`
    select count(*)::int as offered from invitations
    where org_id = ${orgId} and role_id = ${roleId} and ${openAt(now)}
  `.execute(ex);
  return Number(rows[0]!.offered);
}

/** Pending invitations offering one role offer another from now on (a new version each). */
export async function reofferPendingInvitations(
  ex: Executor,
  orgId: string,
  fromRoleId: string,
  toRoleId: string,
  now: Date,
): Promise<void> {
  await ex
    .updateTable('invitations')
    .set((eb) => ({ role_id: toRoleId, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('role_id', '=', fromRoleId)
    .where(openAt(now))
    .execute();
}

/** Seats in use at `now`: members, and pending invitations whose time has not passed. */
export async function seatsInUse(ex: Executor, orgId: string, now: Date): Promise<number> {
  const { rows } = await sql<{ used: number }>`
    select (select count(*) from memberships where org_id = ${orgId})::int
      + (select count(*) from invitations
         where org_id = ${orgId} and ${openAt(now)})::int as used
  `.execute(ex);
  return Number(rows[0]!.used);
}

/** Members and pending invitations now. */
export async function seatCounts(
  ex: Executor,
  orgId: string,
  now: Date,
): Promise<{ members: number; pending: number }> {
  const { rows } = await sql<{ seats: { members: number; pending: number } }>`
    select ${seatCountsFact(ex, orgId, now)} as seats`.execute(ex);
  return rows[0]!.seats;
}

/** Members and pending invitations, as a fact (for the organization's representation). */
export function seatCountsFact(ex: Executor, orgId: string, now: Date) {
  return sql<{ members: number; pending: number }>`(select json_build_object(
    'members', (select count(*) from memberships where org_id = ${orgId}),
    'pending', (select count(*) from invitations
                where org_id = ${orgId} and ${openAt(now)})))`;
}

/** The teams of the organization among these ids. */
export async function existingTeamIds(
  ex: Executor,
  orgId: string,
  teamIds: readonly string[],
): Promise<Set<string>> {
  if (teamIds.length === 0) return new Set();
  const rows = await ex
    .selectFrom('teams')
    .select('id')
    .where('org_id', '=', orgId)
    .where('id', 'in', teamIds)
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Whether a member of the organization has this email (case-insensitively). */
export async function memberWithEmail(ex: Executor, orgId: string, email: string) {
  const row = await ex
    .selectFrom('memberships')
    .select('user_id')
    .where('org_id', '=', orgId)
    .where(sql<boolean>`lower(email) = lower(${email})`)
    .executeTakeFirst();
  return row?.user_id;
}

/** What accepting (or declining) an invitation reads, asked together with the caller. */
export interface AcceptanceFacts {
  invitation: InvitationRecord | null;
  /** The member who sent it, as they are now. */
  inviter: MemberRecord | null;
  /** The accepting user's membership, if they already have one. */
  existing: MemberRecord | null;
}

export function acceptanceFacts(
  ex: Executor,
  orgId: string,
  tokenHash: string,
  userId: string,
): { [K in keyof AcceptanceFacts]: Fact<AcceptanceFacts[K]> } {
  const invitedBy = ex
    .selectFrom('invitations')
    .select('invited_by')
    .where('org_id', '=', orgId)
    .where('token_hash', '=', tokenHash);
  return {
    invitation: jsonObjectFrom(
      invitationsWithRoles(ex, orgId).where('i.token_hash', '=', tokenHash),
    ),
    inviter: memberFact(ex, orgId, sql<string>`(${invitedBy})`),
    existing: memberFact(ex, orgId, userId),
  };
}

/** As `updateInvitation`, as a write to run with others (it must touch one row). */
export function updateInvitationWrite(
  ex: Executor,
  orgId: string,
  id: string,
  changes: Partial<Pick<Insertable<InvitationsTable>, 'status' | 'responded_at'>>,
  now: Date,
  expectedVersion: number,
) {
  return ex
    .updateTable('invitations')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returning('version');
}
