import { CompiledQuery, sql } from 'kysely';
import type { ActorRecord, Caller } from './access.repository.js';
import type { Executor } from './database.js';
import { nameStatement } from './named-statements.js';

/** One access question, as the facts statement reads it. */
export interface QuestionRow {
  subject: string;
  action: string;
  type: 'organization' | 'team' | 'member';
  id: string;
  /** `properties.organizationId`: where a `member` resource lives. */
  organizationId?: string | undefined;
}

/** What the database says about one question, for the caller who asked it. */
export interface QuestionFacts {
  /**
   * The resource's organization, when it exists and the caller may see it: the platform key sees
   * every organization, a member's key its own, a user (token or on-behalf-of) each one they
   * are a member of, in any status. Null otherwise, and then every other fact is null too.
   */
  org: string | null;
  /** A user caller's own membership of that organization. */
  asker: { status: 'active' | 'suspended'; reads: boolean } | null;
  /** The subject's membership of that organization, and what its role holds. */
  subject: {
    status: 'active' | 'suspended';
    /** The role holds the question's action. */
    holds: boolean;
    /** The subject leads the question's team (false for other resources). */
    leads: boolean;
    /** Every permission of the role (only when asked for). */
    permissions: string[] | null;
  } | null;
  /** The resource exists in the organization (a `member`: that user is a member). */
  exists: boolean;
}

export interface DecisionFacts {
  /** The member a key belongs to (for a key caller; null for an unknown key or another caller). */
  caller: ActorRecord | null;
  /** One entry per question, in the order given. */
  questions: QuestionFacts[];
}

/**
 * Authentication of the caller, and for every question the organization of its resource, the
 * caller's standing there, the subject's membership and role, and whether the resource exists:
 * one statement for a whole batch. The questions travel as one JSON parameter, unnested with
 * `jsonb_to_recordset`; each is answered by lookups on primary keys, a subject's membership and
 * role once for all the questions about it (a batch mostly asks about one subject: looked up
 * question by question, that took half the statement's time). The facts of a question are read
 * only where the caller may see the organization. The text is fixed, so it is
 * written here once, prepared once per connection on PostgreSQL, and only its parameters are
 * bound per request.
 */
const FACTS_SQL = `
with caller as (
  select k.id as key_id, k.org_id, k.user_id, m.status, m.role_id, r.permissions as role_permissions
  from api_keys k
  join memberships m on m.org_id = k.org_id and m.user_id = k.user_id
  join roles r on r.org_id = m.org_id and r.id = m.role_id
  where KIND = 'key' and k.secret_hash = $1::text
),
questions as materialized (
  select q.i, q.subject, q.action, q.type, q.id,
    case q.type
      when 'organization' then (select o.id from organizations o where o.id = q.id)
      when 'team' then (select t.org_id from teams t where t.id = q.id order by t.org_id limit 1)
      when 'member' then (select o.id from organizations o where o.id = q.org)
    end as org_id
  from jsonb_to_recordset($3::jsonb)
    as q(i integer, subject text, action text, type text, id text, org text)
),
seen as materialized (
  select q.*,
    case KIND
      when 'platform' then q.org_id is not null
      when 'key' then q.org_id = (select org_id from caller)
      else exists (select 1 from memberships m where m.org_id = q.org_id and m.user_id = $2::text)
    end as visible
  from questions q
),
subjects as materialized (
  select d.org_id, d.subject, m.status, r.permissions
  from (select distinct org_id, subject from seen where visible) d
  join memberships m on m.org_id = d.org_id and m.user_id = d.subject
  join roles r on r.org_id = m.org_id and r.id = m.role_id
)
select
  (select row_to_json(c) from caller c) as caller,
  coalesce((
    select json_agg(json_build_object(
      'org', case when s.visible then s.org_id end,
      'asker', case when s.visible and KIND = 'user' then (
        select json_build_object('status', m.status, 'reads', 'members:read' = any(r.permissions))
        from memberships m join roles r on r.org_id = m.org_id and r.id = m.role_id
        where m.org_id = s.org_id and m.user_id = $2::text) end,
      'subject', case when s.visible and f.status is not null then json_build_object(
          'status', f.status,
          'holds', s.action = any(f.permissions),
          'leads', s.type = 'team' and exists (
            select 1 from team_members tm
            where tm.org_id = s.org_id and tm.team_id = s.id and tm.user_id = s.subject
              and tm.role = 'lead'),
          'permissions', case when $4::boolean then f.permissions end) end,
      'exists', s.visible and (s.type <> 'member' or exists (
        select 1 from memberships m where m.org_id = s.org_id and m.user_id = s.id))
    ) order by s.i)
    from seen s
    left join subjects f on f.org_id = s.org_id and f.subject = s.subject), '[]'::json) as questions
`;

/**
 * The statement's text for each kind of caller, the kind written in: on PostgreSQL each is a
 * named prepared statement, whose plan the server keeps (with the kind a parameter, every plan
 * would be made again for every request).
 */
const factsSql: Record<Caller['kind'], string> = {
  platform: FACTS_SQL.replaceAll('KIND', `'platform'::text`),
  key: FACTS_SQL.replaceAll('KIND', `'key'::text`),
  user: FACTS_SQL.replaceAll('KIND', `'user'::text`),
};
Object.values(factsSql).forEach(nameStatement);

const callerParams = (caller: Caller) => [
  caller.kind === 'user' ? 'user' : caller.kind,
  caller.kind === 'key' ? caller.secretHash : null,
  caller.kind === 'user' ? caller.userId : null,
];

/** The facts of every question (see FACTS_SQL), in one round trip. */
export async function readDecisionFacts(
  ex: Executor,
  caller: Caller,
  questions: readonly QuestionRow[],
  withPermissions = false,
): Promise<DecisionFacts> {
  const rows = questions.map((q, i) => ({
    i,
    subject: q.subject,
    action: q.action,
    type: q.type,
    id: q.id,
    org: q.organizationId ?? null,
  }));
  const [, secretHash, userId] = callerParams(caller);
  const { rows: answer } = await ex.executeQuery<{
    caller: ActorRecord | null;
    questions: QuestionFacts[];
  }>(
    CompiledQuery.raw(factsSql[caller.kind], [
      secretHash,
      userId,
      JSON.stringify(rows),
      withPermissions,
    ]),
  );
  return { caller: answer[0]!.caller ?? null, questions: answer[0]!.questions };
}

/**
 * A page of the active members of an organization who hold `action` (or, on a team, lead it when
 * `action` is what leads hold there), in the member list's order: user ids, bytewise, after
 * `after`. `only` restricts it to one user.
 */
export async function subjectsHolding(
  ex: Executor,
  q: {
    orgId: string;
    action: string;
    teamId: string | null;
    leadPermission: string;
    only: string | null;
    after: string | null;
    limit: number;
  },
): Promise<string[]> {
  const { rows } = await sql<{ user_id: string }>`
    select m.user_id
    from memberships m
    join roles r on r.org_id = m.org_id and r.id = m.role_id
    where m.org_id = ${q.orgId} and m.status = 'active'
      and (${q.action} = any(r.permissions)
        or (${q.teamId}::text is not null and ${q.action} = ${q.leadPermission} and exists (
          select 1 from team_members tm
          where tm.org_id = m.org_id and tm.team_id = ${q.teamId} and tm.user_id = m.user_id
            and tm.role = 'lead')))
      and (${q.only}::text is null or m.user_id = ${q.only})
      and (${q.after}::text is null or m.user_id collate "C" > ${q.after} collate "C")
    order by m.user_id collate "C"
    limit ${q.limit}
  `.execute(ex);
  return rows.map((row) => row.user_id);
}

/**
 * A page of the organizations (or teams) where `subject` is an active member whose role holds
 * `action` (for a team: or that they lead, when `action` is what leads hold), by id bytewise
 * after `after`, among
 * the organizations the caller may ask about the subject in: every one for the platform key;
 * for a member's key, its own organization; for a user, each organization they are an active
 * member of; and there, about another subject only with `members:read`. One statement, the
 * caller's key included.
 */
export async function resourcesHeld(
  ex: Executor,
  caller: Caller,
  q: {
    subject: string;
    action: string;
    type: 'organization' | 'team';
    leadPermission: string;
    after: string | null;
    limit: number;
  },
): Promise<{ caller: ActorRecord | null; ids: string[] }> {
  const [kind, secretHash, userId] = callerParams(caller);
  const held = sql`(${q.action} = any(r.permissions))`;
  const page =
    q.type === 'organization'
      ? sql`
        select m.org_id as id
        from memberships m
        join roles r on r.org_id = m.org_id and r.id = m.role_id
        where m.user_id = ${q.subject} and m.status = 'active' and ${held}
          and (${kind} = 'platform' or m.org_id in (select org_id from asker))
          and (${q.after}::text is null or m.org_id collate "C" > ${q.after} collate "C")
        order by m.org_id collate "C"
        limit ${q.limit}`
      : sql`
        select t.id
        from memberships m
        join roles r on r.org_id = m.org_id and r.id = m.role_id
        join teams t on t.org_id = m.org_id
        where m.user_id = ${q.subject} and m.status = 'active'
          and (${held} or (${q.action} = ${q.leadPermission} and exists (
            select 1 from team_members tm
            where tm.org_id = t.org_id and tm.team_id = t.id and tm.user_id = m.user_id
              and tm.role = 'lead')))
          and (${kind} = 'platform' or m.org_id in (select org_id from asker))
          and (${q.after}::text is null or t.id collate "C" > ${q.after} collate "C")
        order by t.id collate "C"
        limit ${q.limit}`;
  const { rows } = await sql<{ caller: ActorRecord | null; ids: string[] | null }>`
    with caller as (
      select k.id as key_id, k.org_id, k.user_id, m.status, m.role_id,
        r.permissions as role_permissions
      from api_keys k
      join memberships m on m.org_id = k.org_id and m.user_id = k.user_id
      join roles r on r.org_id = m.org_id and r.id = m.role_id
      where ${kind}::text = 'key' and k.secret_hash = ${secretHash}::text
    ),
    asker as (
      select m.org_id
      from memberships m
      join roles r on r.org_id = m.org_id and r.id = m.role_id
      where m.status = 'active'
        and ((${kind}::text = 'key' and (m.org_id, m.user_id) in (select org_id, user_id from caller))
          or (${kind}::text = 'user' and m.user_id = ${userId}::text))
        and (m.user_id = ${q.subject} or 'members:read' = any(r.permissions))
    ),
    found as (${page})
    select (select row_to_json(c) from caller c) as caller,
      (select json_agg(id order by id collate "C") from found) as ids
  `.execute(ex);
  return { caller: rows[0]!.caller ?? null, ids: rows[0]!.ids ?? [] };
}
