import { preparedRead } from '../storage/access.repository.js';
import {
  auditPage,
  nextAuditKeyFact,
  renderedAuditFact,
  type AuditFilter,
  type AuditPage,
} from '../storage/audit.repository.js';
import { readInOrganization, requirePermission } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString } from './cursor.js';
import { JsonText, type RenderedPage } from './json-text.js';
import type { AuditEvent } from './model.js';

/**
 * Rule 11's trail, newest first: one statement, the actor, tenancy and the page, rendered by the
 * database.
 */
export async function listAuditEvents(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: AuditFilter & { limit: number; cursor?: string },
): Promise<RenderedPage<AuditEvent>> {
  const before =
    query.cursor === undefined
      ? undefined
      : keyString(decodeCursor(query.cursor, 'audit', orgId), 0);
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { events, lastKey }) => {
      requirePermission(actor, 'audit:read');
      return {
        data: new JsonText<AuditEvent[]>(events),
        nextCursor: lastKey === null ? null : encodeCursor('audit', orgId, [lastKey]),
      };
    },
    askAuditPage(auditPage(query, query.limit, before)),
  );
}

/** A page of the trail: one statement per combination of the filters given and page size. */
const askAuditPage = preparedRead(
  (ex, orgId, page: AuditPage) => ({
    events: renderedAuditFact(ex, orgId, page),
    lastKey: nextAuditKeyFact(ex, orgId, page),
  }),
  ['limit'],
);
