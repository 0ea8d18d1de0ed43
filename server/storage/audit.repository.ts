import { sql } from 'kysely';
import { rowsLimit, rowsToFetch, type Fact } from './access.repository.js';
import type { Executor } from './database.js';
import { nextKeyFact, utcMilliseconds } from './rendering.js';
import type { AuditEventRow, NewAuditEvent } from './schema.js';
import { preparedWrite } from './write-batch.js';

export async function insertAuditEvents(ex: Executor, events: NewAuditEvent[]) {
  if (events.length > 0) await ex.insertInto('audit_events').values(events).execute();
}

/**
 * The insert of a change's audit events, to run with its other last writes (at least one event;
 * compiled once per shape: see `preparedWrite`).
 */
export const insertAuditEventsQuery = preparedWrite((ex: Executor, events: NewAuditEvent[]) =>
  ex.insertInto('audit_events').values(events).returning('id'),
);

export interface AuditFilter {
  action?: string;
  actorId?: string;
  targetUserId?: string;
  since?: Date;
}

/** An audit event as a page of them holds it (its time as PostgreSQL's JSON spells it). */
export type AuditEventRecord = Omit<AuditEventRow, 'occurred_at'> & { occurred_at: Date | string };

/**
 * The values a page of audit events is asked with, each used unchanged as a query parameter (see
 * `preparedRead`): the filters given, the keyset position and the page's size; and the number of
 * rows read, written into the statement (one of a few, see `rowsToFetch`).
 */
export type AuditPage = {
  limit: string;
  size: string;
  action?: string;
  actorId?: string;
  targetUserId?: string;
  since?: string;
  beforeId?: string;
};

/** A page of `size` events, filtered, before the position given. */
export function auditPage(filter: AuditFilter, size: number, beforeId?: string): AuditPage {
  const page: AuditPage = { limit: String(rowsToFetch(size + 1)), size: String(size) };
  if (filter.action) page.action = filter.action;
  if (filter.actorId) page.actorId = filter.actorId;
  if (filter.targetUserId) page.targetUserId = filter.targetUserId;
  if (filter.since) page.since = filter.since.toISOString();
  if (beforeId !== undefined) page.beforeId = beforeId;
  return page;
}

/**
 * A page of audit events as JSON text in the contract's representation (what `toAuditEvent`
 * makes of each one, field for field and in its order), written by PostgreSQL and sent as it
 * comes (see `renderedMembersFact`). A fact asked together with the actor.
 */
export function renderedAuditFact(ex: Executor, orgId: string, page: AuditPage) {
  const p = (column: string) => sql.ref(`p.${column}`);
  return sql<string>`(
    with kept as (
      select * from (${auditQuery(ex, orgId, page)}) page
      order by id collate "C" desc limit ${page.size}::bigint)
    select '[' || coalesce(string_agg(row_to_json(x)::text, ',' order by x.id collate "C" desc), '') || ']'
    from (
      select ${p('id')} as id, ${p('org_id')} as "organizationId", ${p('action')} as action,
        (select a from (select ${p('actor_type')} as type, ${p('actor_user_id')} as "userId",
          ${p('actor_key_id')} as "apiKeyId",
          coalesce(${p('actor_via')},
            case when ${p('actor_type')} = 'platform' then 'platform' else 'api_key' end) as via) a)
          as actor,
        ${p('target_user_id')} as "targetUserId", ${p('target_id')} as "targetId",
        ${p('before')} as before, ${p('after')} as after, ${p('request_id')} as "requestId",
        ${utcMilliseconds(p('occurred_at'))} as "occurredAt"
      from kept p) x
  )` as Fact<string>;
}

/** The key the next page starts before (the last of this one), or null when none follows. */
export function nextAuditKeyFact(ex: Executor, orgId: string, page: AuditPage) {
  const keys = auditQuery(ex, orgId, page).clearSelect().select('id');
  return nextKeyFact(keys, 'id', 'desc', page.size);
}

/**
 * Newest first, by id compared bytewise (ULIDs sort by time; the index `audit_events_keyset`),
 * before the keyset position given.
 */
function auditQuery(ex: Executor, orgId: string, page: AuditPage) {
  let query = ex.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
  if (page.action !== undefined) query = query.where('action', '=', page.action);
  if (page.actorId !== undefined) query = query.where('actor_user_id', '=', page.actorId);
  if (page.targetUserId !== undefined) {
    query = query.where('target_user_id', '=', page.targetUserId);
  }
  if (page.since !== undefined) {
    query = query.where('occurred_at', '>=', sql<Date>`${page.since}::timestamptz`);
  }
  if (page.beforeId !== undefined) {
    query = query.where(sql<boolean>`id collate "C" < ${page.beforeId} collate "C"`);
  }
  return query.orderBy(sql`id collate "C" desc`).limit(rowsLimit(page.limit));
}
