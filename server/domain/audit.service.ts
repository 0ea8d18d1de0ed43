import { listAuditEvents as listAuditRows, type AuditFilter } from '../storage/audit.repository.js';
import { readInOrganization, requirePermission } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import type { AuditEvent, Page } from './model.js';
import { toAuditEvent } from './representations.js';

/** Rule 11's trail, newest first. */
export async function listAuditEvents(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: AuditFilter & { limit: number; cursor?: string },
): Promise<Page<AuditEvent>> {
  return readInOrganization(deps, ctx, orgId, async (trx, actor) => {
    requirePermission(actor, 'audit:read');
    const before =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, 'audit', orgId), 0);
    const rows = await listAuditRows(trx, orgId, query, query.limit + 1, before);
    return pageOf(rows, query.limit, toAuditEvent, (row) => encodeCursor('audit', orgId, [row.id]));
  });
}
