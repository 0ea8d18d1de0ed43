import { CompiledQuery, sql, type Expression, type RawBuilder } from 'kysely';
import type { Executor } from './database.js';
import { nameStatement } from './named-statements.js';
import { bind, placeholder, slotsOf, type Slot } from './placeholders.js';
import type { OrganizationRow } from './schema.js';

/**
 * Who a request comes with, as the statements below can look it up: a member's API key (by its
 * hash), the platform key, or a user (named by an access token of the product's identity
 * provider, or by the platform key acting on their behalf).
 */
export type Caller =
  | { kind: 'key'; secretHash: string }
  | { kind: 'platform' }
  | { kind: 'user'; userId: string; via: 'token' | 'platform' };

/** The calling member as the database says now: their key, membership, role and permissions. */
export interface ActorRecord {
  /** The key the caller used (null for a user named by a token or on whose behalf one acts). */
  key_id: string | null;
  org_id: string;
  user_id: string;
  status: 'active' | 'suspended';
  role_id: string;
  role_permissions: string[];
}

/** One question asked in the same statement as the actor: an expression yielding one value. */
export type Fact<T> = Expression<T>;
export type Facts<F> = { [K in keyof F]: Fact<F[K]> };

export interface ActorAnswer<F> {
  /** The member the key belongs to (in any organization), or null for an unknown key. */
  actor: ActorRecord | null;
  /** The organization, when the caller may see it: an active member of it, or the platform key. */
  org: OrganizationRow | null;
  /** Each fact's value, computed only when `org` is answered (nobody else's data is read). */
  facts: F;
}

/** Inside a fact: the calling member's user id (from the statement's `actor`). */
export const actorUserId = sql<string>`(select user_id from actor)`;

const actorByKey = (secretHash: string) => sql`
  select k.id as key_id, k.org_id, k.user_id, m.status, m.role_id, r.permissions as role_permissions
  from api_keys k
  join memberships m on m.org_id = k.org_id and m.user_id = k.user_id
  join roles r on r.org_id = m.org_id and r.id = m.role_id
  where k.secret_hash = ${secretHash}`;

const actorByUser = (userId: string, orgId: string) => sql`
  select null::text as key_id, m.org_id, m.user_id, m.status, m.role_id,
    r.permissions as role_permissions
  from memberships m
  join roles r on r.org_id = m.org_id and r.id = m.role_id
  where m.user_id = ${userId} and m.org_id = ${orgId}`;

const noActor = sql`
  select null::text as key_id, null::text as org_id, null::text as user_id, null::text as status,
    null::text as role_id, null::text[] as role_permissions
  where false`;

/**
 * Authentication, the actor's current role, tenancy and the facts a use case needs, in one
 * statement (one round trip). The facts are evaluated only when the caller is an active member
 * of the organization (or the platform key, where `platformReads` allows it).
 */
export async function readWithActor<F extends Record<string, unknown>>(
  ex: Executor,
  caller: Caller,
  orgId: string,
  facts: Facts<F> | Question<F>,
  platformReads = false,
): Promise<ActorAnswer<F>> {
  if (typeof facts === 'function') return facts(ex, caller, orgId, platformReads);
  const names = Object.keys(facts);
  const { rows } = await executeNamed(ex, actorStatement(caller, orgId, facts, platformReads));
  return toAnswer<F>(rows[0]!, names);
}

/** A read asked with the actor, as a prepared statement binds it (see `preparedRead`). */
export type Question<F> = (
  ex: Executor,
  caller: Caller,
  orgId: string,
  platformReads: boolean,
) => Promise<ActorAnswer<F>>;

function actorStatement<F>(caller: Caller, orgId: string, facts: Facts<F>, platformReads: boolean) {
  const allowed =
    caller.kind === 'platform'
      ? sql`${platformReads}::boolean`
      : sql`exists (select 1 from actor where org_id = ${orgId} and status = 'active')`;
  const actor =
    caller.kind === 'key'
      ? actorByKey(caller.secretHash)
      : caller.kind === 'user'
        ? actorByUser(caller.userId, orgId)
        : noActor;
  const columns = Object.keys(facts).map(
    (name, i) =>
      sql`case when (select ok from gate) then (${facts[name as keyof F]}) end as ${sql.ref(`f${i}`)}`,
  );
  return sql<Record<string, unknown>>`
    with actor as (${actor}),
    gate as (select ${allowed} as ok)
    select
      (select row_to_json(a) from actor a) as actor,
      case when (select ok from gate)
        then (select row_to_json(o) from organizations o where o.id = ${orgId}) end as org
      ${columns.length > 0 ? sql`, ${sql.join(columns)}` : sql``}
  `;
}

function toAnswer<F>(row: Record<string, unknown>, names: string[]): ActorAnswer<F> {
  const org = row.org as (Omit<OrganizationRow, 'created_at' | 'updated_at'> & Dates) | null;
  return {
    actor: (row.actor as ActorRecord | null) ?? null,
    org: org
      ? { ...org, created_at: new Date(org.created_at), updated_at: new Date(org.updated_at) }
      : null,
    facts: Object.fromEntries(names.map((name, i) => [name, row[`f${i}`] ?? null])) as F,
  };
}

/** Runs a statement as a named one (see named-statements): its shapes are few, it runs often. */
async function executeNamed<R>(ex: Executor, statement: RawBuilder<R>) {
  const compiled = statement.compile(ex);
  nameStatement(compiled.sql);
  return ex.executeQuery<R>(compiled);
}

type Params = Record<string, string>;

/**
 * How many rows a page asks the database for: the rows wanted (a page and one more, to learn
 * whether another follows) rounded up to one of a few sizes, written into the statement as a
 * literal (see `rowsLimit`). A LIMIT that is a parameter is costed as a tenth of the table, so
 * PostgreSQL would plan such a page anew on every request, or keep a generic plan that reads a
 * large organization's rows in the wrong order; a literal one from a fixed few keeps the plans
 * right and the statements few. The page is cut to its size afterwards.
 */
export function rowsToFetch(wanted: number): number {
  return PAGE_FETCH_SIZES.find((size) => size >= wanted) ?? wanted;
}

const PAGE_FETCH_SIZES = [11, 26, 51, 101];

/** `limit N` for a count `rowsToFetch` chose (or the text of a page's `limit` value, made so). */
export function rowsLimit(fetch: number | string) {
  const rows = Number(fetch);
  if (!Number.isInteger(rows) || rows < 1 || rows > PAGE_FETCH_SIZES.at(-1)!) {
    throw new Error(`not a page size: ${JSON.stringify(fetch)}`);
  }
  return sql.lit(rows);
}

/**
 * A read asked with the actor whose statement is built and compiled once (per kind of caller,
 * per set of values given: an optional filter left out is another statement, and per value of
 * each name in `inlined`), not on every request: `facts` is built with placeholder values the
 * first time; later calls only bind the values. The facts may use each value only as a query
 * parameter, unchanged, except the `inlined` ones, which they get as they are (for a literal;
 * their values must be few, as `rowsToFetch` makes a page's `limit`).
 */
export function preparedRead<P extends Params, F extends Record<string, unknown>>(
  facts: (ex: Executor, orgId: string, params: P) => Facts<F>,
  inlined: readonly (keyof P & string)[] = [],
): (params: P) => Question<F> {
  const compiled = new Map<string, { sql: string; slots: Slot[]; names: string[] }>();
  const prepare = (ex: Executor, kind: Caller['kind'], platformReads: boolean, params: P) => {
    const given = Object.keys(params);
    const names = new Proxy({} as P, {
      get: (_, name) => {
        if (typeof name !== 'string' || !given.includes(name)) return undefined;
        return inlined.includes(name) ? params[name] : placeholder([name]);
      },
    });
    const built = facts(ex, placeholder(['$orgId']), names);
    const caller: Caller =
      kind === 'key'
        ? { kind, secretHash: placeholder(['$secretHash']) }
        : kind === 'user'
          ? { kind, userId: placeholder(['$userId']), via: 'token' }
          : { kind };
    const query = actorStatement(caller, placeholder(['$orgId']), built, platformReads).compile(ex);
    const slots = slotsOf(query, 'a prepared read');
    nameStatement(query.sql);
    return { sql: query.sql, slots, names: Object.keys(built) };
  };
  return (params) => async (ex, caller, orgId, platformReads) => {
    const given = Object.keys(params).sort().join(',');
    const shape = inlined.map((name) => params[name]).join(',');
    const key = `${caller.kind}:${platformReads}:${given}:${shape}`;
    let statement = compiled.get(key);
    if (!statement) {
      compiled.set(key, (statement = prepare(ex, caller.kind, platformReads, params)));
    }
    const values: Params = {
      ...params,
      $orgId: orgId,
      ...(caller.kind === 'key' ? { $secretHash: caller.secretHash } : {}),
      ...(caller.kind === 'user' ? { $userId: caller.userId } : {}),
    };
    const result = await ex.executeQuery<Record<string, unknown>>(
      CompiledQuery.raw(statement.sql, bind(statement.slots, values)),
    );
    return toAnswer<F>(result.rows[0]!, statement.names);
  };
}

interface Dates {
  created_at: string;
  updated_at: string;
}

/**
 * Locks the organization for a change, but only for a caller entitled to contend for it: a key of
 * one of its members or such a member by token (checked before the lock is taken), or the platform
 * key. Every write inside one organization takes this lock first, so writes to one organization
 * are serialized and its invariants (one owner, role assignments against live roles) cannot be
 * raced. Taking it gives the organization a new revision, in the change's transaction (see
 * `unlessAtRevision`). The update's row lock (FOR NO KEY UPDATE) leaves foreign-key checks from
 * other tables unblocked. False when nothing was locked.
 */
export async function lockOrganizationFor(
  ex: Executor,
  caller: Caller,
  orgId: string,
): Promise<boolean> {
  const member =
    caller.kind === 'key'
      ? sql`and exists (select 1 from api_keys k where k.secret_hash = ${caller.secretHash} and k.org_id = o.id)`
      : caller.kind === 'user'
        ? sql`and exists (select 1 from memberships m where m.org_id = o.id and m.user_id = ${caller.userId})`
        : sql``;
  const { rows } = await executeNamed(
    ex,
    sql`update organizations o set revision = gen_random_uuid() where o.id = ${orgId} ${member} returning o.id`,
  );
  return rows.length > 0;
}

/** Inside a fact: the organization's revision, as text. */
const organizationRevision = (orgId: string) =>
  sql<string>`(select revision::text from organizations where id = ${orgId})`;

/**
 * A fact computed only when the organization is not at the revision given, else null: a page
 * the service kept from that revision is the page still (every change gives a new revision).
 */
export function unlessAtRevision<T>(orgId: string, revision: string, fact: Fact<T>) {
  return sql<T | null>`case when ${organizationRevision(orgId)} = ${revision} then null else (${fact}) end`;
}

/** Whether a key with this hash exists at all (to tell 401 from 404 after a refused lock). */
export async function keyHashExists(ex: Executor, secretHash: string): Promise<boolean> {
  const { rows } = await sql`select 1 from api_keys where secret_hash = ${secretHash}`.execute(ex);
  return rows.length > 0;
}

/** The member a key belongs to, in whichever organization (for operations outside one). */
export async function findActorByKey(
  ex: Executor,
  secretHash: string,
): Promise<ActorRecord | undefined> {
  const { rows } = await sql<ActorRecord>`${actorByKey(secretHash)}`.execute(ex);
  return rows[0];
}
