import { sql, type Insertable, type Updateable } from 'kysely';
import type { Db, Executor } from './database.js';
import type {
  AuditEventRow,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookEndpointRow,
  WebhookEndpointsTable,
} from './schema.js';
import { preparedWrite, type Write } from './write-batch.js';

// ---------------------------------------------------------------------------------------------
// Endpoints

export async function insertEndpoint(ex: Executor, row: Insertable<WebhookEndpointsTable>) {
  return ex.insertInto('webhook_endpoints').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findEndpoint(ex: Executor, orgId: string, endpointId: string) {
  return ex
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('id', '=', endpointId)
    .executeTakeFirst();
}

export async function listEndpoints(
  ex: Executor,
  orgId: string,
  limit: number,
  afterId?: string,
): Promise<WebhookEndpointRow[]> {
  let query = ex.selectFrom('webhook_endpoints').selectAll().where('org_id', '=', orgId);
  if (afterId !== undefined) query = query.where('id', '>', afterId);
  return query.orderBy('id').limit(limit).execute();
}

/** Changes an endpoint and steps its version; undefined when it is gone. */
export async function updateEndpoint(
  ex: Executor,
  orgId: string,
  endpointId: string,
  changes: Updateable<WebhookEndpointsTable>,
  now: Date,
) {
  return ex
    .updateTable('webhook_endpoints')
    .set((eb) => ({ ...changes, updated_at: now, version: eb('version', '+', 1) }))
    .where('org_id', '=', orgId)
    .where('id', '=', endpointId)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteEndpoint(ex: Executor, orgId: string, endpointId: string) {
  await ex
    .deleteFrom('webhook_endpoints')
    .where('org_id', '=', orgId)
    .where('id', '=', endpointId)
    .execute();
}

// ---------------------------------------------------------------------------------------------
// The outbox

/**
 * The transactional outbox: a pending delivery of each event to every enabled endpoint of the
 * organization subscribed to its type (or to `*`), written in the change's last statement with
 * its audit events, so a change, its events and its deliveries commit together or not at all.
 */
function insertDeliveriesStatement(
  ex: Executor,
  orgId: string,
  events: readonly { id: string; action: string }[],
  now: Date,
): Write {
  const ids = events.map((e) => e.id);
  const actions = events.map((e) => e.action);
  return ex
    .insertInto('webhook_deliveries')
    .columns([
      'endpoint_id',
      'event_id',
      'org_id',
      'event_type',
      'status',
      'next_attempt_at',
      'created_at',
    ])
    .expression(
      sql`select e.id, ev.id, e.org_id, ev.action, 'pending', ${now}::timestamptz, ${now}::timestamptz
        from webhook_endpoints e
        cross join unnest(${ids}::text[], ${actions}::text[]) as ev (id, action)
        where e.org_id = ${orgId} and e.status = 'enabled'
          and (ev.action = any (e.events) or '*' = any (e.events))`,
    )
    .returning('event_id');
}

/** As above, compiled once per number of events (see `preparedWrite`). */
export const insertDeliveriesQuery = preparedWrite(insertDeliveriesStatement);

/** A delivery that carries its own payload (a test event), pending now. */
export async function insertPayloadDelivery(
  ex: Executor,
  row: { endpointId: string; eventId: string; orgId: string; type: string; payload: object },
  now: Date,
) {
  return ex
    .insertInto('webhook_deliveries')
    .values({
      endpoint_id: row.endpointId,
      event_id: row.eventId,
      org_id: row.orgId,
      event_type: row.type,
      payload: JSON.stringify(row.payload),
      status: 'pending',
      next_attempt_at: now,
      created_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export type DeliveryRecord = WebhookDeliveryRow & { recent_attempts: WebhookAttemptRow[] };

/** How many attempts a delivery shows. */
export const RECENT_ATTEMPTS = 20;

function deliveriesWithAttempts(ex: Executor, endpointId: string) {
  return ex
    .selectFrom('webhook_deliveries as d')
    .selectAll('d')
    .select(
      sql<WebhookAttemptRow[]>`coalesce((
        select json_agg(a order by a.number) from (
          select * from webhook_attempts wa
          where wa.endpoint_id = d.endpoint_id and wa.event_id = d.event_id
          order by wa.number desc limit ${RECENT_ATTEMPTS}
        ) a
      ), '[]'::json)`.as('recent_attempts'),
    )
    .where('d.endpoint_id', '=', endpointId);
}

/** Newest first (event ids are ULIDs), before the keyset position given. */
export async function listDeliveries(
  ex: Executor,
  endpointId: string,
  status: string | undefined,
  limit: number,
  beforeEventId?: string,
): Promise<DeliveryRecord[]> {
  let query = deliveriesWithAttempts(ex, endpointId);
  if (status !== undefined) query = query.where('d.status', '=', status as 'pending');
  if (beforeEventId !== undefined) query = query.where('d.event_id', '<', beforeEventId);
  return query.orderBy('d.event_id', 'desc').limit(limit).execute();
}

export async function findDelivery(ex: Executor, endpointId: string, eventId: string) {
  return deliveriesWithAttempts(ex, endpointId)
    .where('d.event_id', '=', eventId)
    .executeTakeFirst();
}

/** Sends a delivery again now, with a fresh retry schedule. */
export async function requeueDelivery(
  ex: Executor,
  endpointId: string,
  eventId: string,
  now: Date,
) {
  return ex
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', retries: 0, next_attempt_at: now, locked_until: null })
    .where('endpoint_id', '=', endpointId)
    .where('event_id', '=', eventId)
    .returning('event_id')
    .executeTakeFirst();
}

// ---------------------------------------------------------------------------------------------
// The delivery worker

export interface ClaimedDelivery {
  endpoint_id: string;
  event_id: string;
  org_id: string;
  event_type: string;
  payload: Record<string, unknown> | null;
  attempt_count: number;
  retries: number;
  created_at: Date;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  failing_since: Date | null;
  /** The audit event the delivery carries (null for a test event). */
  event: AuditEventRow | null;
}

/**
 * Claims up to `limit` due deliveries of enabled endpoints for `leaseMs`, in one statement that
 * commits by itself: `FOR UPDATE SKIP LOCKED` keeps two workers from taking the same rows, and
 * the lease (`locked_until`) keeps them from taking a row another worker is still sending. No
 * connection is held while the deliveries are sent; a worker that dies leaves its rows to be
 * claimed again when the lease ends (at least once).
 */
export async function claimDueDeliveries(
  db: Db,
  limit: number,
  leaseMs: number,
): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    with due as (
      select d.endpoint_id, d.event_id
      from webhook_deliveries d
      join webhook_endpoints e on e.id = d.endpoint_id and e.status = 'enabled'
      where d.status = 'pending' and d.next_attempt_at <= now()
        and (d.locked_until is null or d.locked_until < now())
      order by d.next_attempt_at
      limit ${limit}
      for update of d skip locked
    ), claimed as (
      update webhook_deliveries d
      set locked_until = now() + ${`${leaseMs} milliseconds`}::interval
      from due
      where d.endpoint_id = due.endpoint_id and d.event_id = due.event_id
      returning d.*
    )
    select c.endpoint_id, c.event_id, c.org_id, c.event_type, c.payload, c.attempt_count,
      c.retries, c.created_at, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at,
      e.failing_since, to_jsonb(a) as event
    from claimed c
    join webhook_endpoints e on e.id = c.endpoint_id
    left join audit_events a on a.id = c.event_id and c.payload is null
  `.execute(db);
  return rows.map((row) => ({
    ...row,
    event: row.event ? revive(row.event) : null,
  }));
}

/** `to_jsonb` gives timestamps as text. */
function revive(event: AuditEventRow): AuditEventRow {
  return { ...event, occurred_at: new Date(event.occurred_at) };
}

export interface DeliveryOutcome {
  endpointId: string;
  eventId: string;
  attempt: Omit<Insertable<WebhookAttemptRow>, 'endpoint_id' | 'event_id' | 'number'>;
  /** The delivery's new state: delivered, given up, or due again at `nextAttemptAt`. */
  status: 'succeeded' | 'failed' | 'pending';
  nextAttemptAt: Date | null;
  retries: number;
  /** Disable the endpoint with this reason (410, or failing for 24 hours). */
  disable: string | null;
  /** The endpoint's failing streak: null clears it (a success), a date starts it if unset. */
  failingSince: Date | null;
}

/** What attempts recorded together make of one endpoint's state (the domain's `endpointsAfter`). */
export interface EndpointState {
  endpointId: string;
  /** A delivery succeeded among them: the failing streak restarts from `failingSince`. */
  restarted: boolean;
  /**
   * The failing streak after them: with `restarted`, null (the last attempt succeeded) or when
   * the first failure after the last success was tried; without, when the first of them began
   * failing (kept only if the endpoint was not failing already).
   */
  failingSince: Date | null;
  /** Disable the endpoint with this reason (the first given). */
  disable: string | null;
}

/**
 * Records attempts and their consequences in one statement: each attempt's row, its delivery's
 * state (releasing its lease), and each endpoint's failing streak or its disabling. An endpoint
 * whose state does not change is left alone (no lock on its row shared by every delivery to it,
 * no dead row version per delivery).
 */
export async function recordOutcomes(
  db: Db,
  outcomes: readonly DeliveryOutcome[],
  endpoints: readonly EndpointState[],
): Promise<void> {
  if (outcomes.length === 0) return;
  const column = <T>(pick: (o: DeliveryOutcome) => T) => outcomes.map(pick);
  await sql`
    with outcome as (
      select * from unnest(
        ${column((o) => o.endpointId)}::text[], ${column((o) => o.eventId)}::text[],
        ${column((o) => o.status)}::text[], ${column((o) => o.nextAttemptAt)}::timestamptz[],
        ${column((o) => o.retries)}::int[], ${column((o) => o.attempt.attempted_at)}::timestamptz[],
        ${column((o) => o.attempt.outcome)}::text[],
        ${column((o) => o.attempt.response_status ?? null)}::int[],
        ${column((o) => o.attempt.duration_ms)}::int[],
        ${column((o) => o.attempt.response_body ?? null)}::text[]
      ) as o (endpoint_id, event_id, status, next_attempt_at, retries, attempted_at, outcome,
        response_status, duration_ms, response_body)
    ), delivery as (
      update webhook_deliveries d
      set status = o.status, next_attempt_at = o.next_attempt_at, retries = o.retries,
        attempt_count = d.attempt_count + 1, locked_until = null
      from outcome o
      where d.endpoint_id = o.endpoint_id and d.event_id = o.event_id
      returning d.endpoint_id, d.event_id, d.attempt_count
    ), attempt as (
      insert into webhook_attempts (endpoint_id, event_id, number, attempted_at, outcome,
        response_status, duration_ms, response_body)
      select o.endpoint_id, o.event_id, d.attempt_count, o.attempted_at, o.outcome,
        o.response_status, o.duration_ms, o.response_body
      from outcome o join delivery d on d.endpoint_id = o.endpoint_id and d.event_id = o.event_id
      returning number
    ), state as (
      select * from unnest(
        ${endpoints.map((e) => e.endpointId)}::text[], ${endpoints.map((e) => e.restarted)}::boolean[],
        ${endpoints.map((e) => e.failingSince)}::timestamptz[],
        ${endpoints.map((e) => e.disable)}::text[]
      ) as s (endpoint_id, restarted, failing_since, disable)
    ), endpoint as (
      update webhook_endpoints e
      set failing_since = case when s.restarted then s.failing_since
          else coalesce(e.failing_since, s.failing_since) end,
        status = case when s.disable is null then e.status else 'disabled' end,
        disabled_reason = coalesce(s.disable, e.disabled_reason),
        version = case when s.disable is null then e.version else e.version + 1 end
      from state s
      where e.id = s.endpoint_id and (s.disable is not null
        or e.failing_since is distinct from
          case when s.restarted then s.failing_since else coalesce(e.failing_since, s.failing_since) end)
      returning e.id
    )
    select (select count(*) from attempt) as attempts, (select count(*) from endpoint) as endpoints
  `.execute(db);
}

/** Gives claimed deliveries back at once (a worker stopping before it sent them). */
export async function releaseDeliveries(
  db: Db,
  claimed: readonly { endpointId: string; eventId: string }[],
): Promise<void> {
  if (claimed.length === 0) return;
  await sql`
    update webhook_deliveries d set locked_until = null
    from unnest(${claimed.map((c) => c.endpointId)}::text[], ${claimed.map((c) => c.eventId)}::text[])
      as r (endpoint_id, event_id)
    where d.endpoint_id = r.endpoint_id and d.event_id = r.event_id
  `.execute(db);
}

/** Pending deliveries to enabled endpoints (for the metrics), and when the earliest is due. */
export async function queueState(db: Db): Promise<{ depth: number; nextDueAt: Date | null }> {
  const { rows } = await sql<{ depth: number; next_due_at: Date | null }>`
    select count(*)::int as depth, min(d.next_attempt_at) as next_due_at
    from webhook_deliveries d
    join webhook_endpoints e on e.id = d.endpoint_id and e.status = 'enabled'
    where d.status = 'pending'
  `.execute(db);
  const row = rows[0];
  return { depth: Number(row?.depth ?? 0), nextDueAt: row?.next_due_at ?? null };
}

// ---------------------------------------------------------------------------------------------
// The event stream

/** The organization's events after `afterId`, oldest first (by id, compared bytewise). */
export async function listEventsAfter(
  ex: Executor,
  orgId: string,
  afterId: string | undefined,
  types: readonly string[] | undefined,
  limit: number,
): Promise<AuditEventRow[]> {
  let query = ex.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
  if (afterId !== undefined) {
    query = query.where(sql<boolean>`id collate "C" > ${afterId} collate "C"`);
  }
  if (types !== undefined && types.length > 0) query = query.where('action', 'in', types);
  // Bytewise, as the index `audit_events_keyset` orders an organization's events.
  return query
    .orderBy(sql`id collate "C"`)
    .limit(limit)
    .execute();
}
