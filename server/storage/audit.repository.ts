import type { Executor } from './database.js';
import type { AuditEventRow, NewAuditEvent } from './schema.js';

export async function insertAuditEvents(ex: Executor, events: NewAuditEvent[]) {
  if (events.length > 0) await ex.insertInto('audit_events').values(events).execute();
}

/** The insert of a change's audit events, to run with its other last writes (at least one event). */
export function insertAuditEventsQuery(ex: Executor, events: NewAuditEvent[]) {
  return ex.insertInto('audit_events').values(events).returning('id');
}

export interface AuditFilter {
  action?: string;
  actorId?: string;
  targetUserId?: string;
  since?: Date;
}

/** Newest first, by id (ULIDs sort by time), before the keyset position given. */
export async function listAuditEvents(
  ex: Executor,
  orgId: string,
  filter: AuditFilter,
  limit: number,
  beforeId?: string,
): Promise<AuditEventRow[]> {
  let query = ex.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
  if (filter.action) query = query.where('action', '=', filter.action);
  if (filter.actorId) query = query.where('actor_user_id', '=', filter.actorId);
  if (filter.targetUserId) query = query.where('target_user_id', '=', filter.targetUserId);
  if (filter.since) query = query.where('occurred_at', '>=', filter.since);
  if (beforeId !== undefined) query = query.where('id', '<', beforeId);
  return query.orderBy('id', 'desc').limit(limit).execute();
}
