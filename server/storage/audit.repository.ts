import { sql } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import { rowsLimit, rowsToFetch, type Fact } from './access.repository.js';
import type { Executor } from './database.js';
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
 * `preparedRead`): the filters given and the keyset position; and the number of rows, written
 * into the statement (one of a few, see `rowsToFetch`).
 */
export type AuditPage = {
  limit: string;
  action?: string;
  actorId?: string;
  targetUserId?: string;
  since?: string;
  beforeId?: string;
};

/** A page of at least `rows` rows (see `rowsToFetch`), filtered, before the position given. */
export function auditPage(filter: AuditFilter, rows: number, beforeId?: string): AuditPage {
  const page: AuditPage = { limit: String(rowsToFetch(rows)) };
  if (filter.action) page.action = filter.action;
  if (filter.actorId) page.actorId = filter.actorId;
  if (filter.targetUserId) page.targetUserId = filter.targetUserId;
  if (filter.since) page.since = filter.since.toISOString();
  if (beforeId !== undefined) page.beforeId = beforeId;
  return page;
}

/**
 * Newest first, by id compared bytewise (ULIDs sort by time; the index `audit_events_keyset`),
 * before the keyset position given; as a fact.
 */
export function auditPageFact(ex: Executor, orgId: string, page: AuditPage) {
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
  return jsonArrayFrom(
    query.orderBy(sql`id collate "C" desc`).limit(rowsLimit(page.limit)),
  ) as Fact<AuditEventRecord[]>;
}
