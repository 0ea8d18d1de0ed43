import { preparedRead } from '../storage/access.repository.js';
import {
  auditPage,
  auditPageFact,
  type AuditFilter,
  type AuditPage,
} from '../storage/audit.repository.js';
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
  const before =
    query.cursor === undefined
      ? undefined
      : keyString(decodeCursor(query.cursor, 'audit', orgId), 0);
  return readInOrganization(
    deps,
    ctx,
    orgId,
    (_db, actor, { rows }) => {
      requirePermission(actor, 'audit:read');
      return pageOf(rows, query.limit, toAuditEvent, (row) =>
        encodeCursor('audit', orgId, [row.id]),
      );
    },
    askAuditPage(auditPage(query, query.limit + 1, before)),
  );
}

/** A page of the trail: one statement per combination of the filters given and page size. */
const askAuditPage = preparedRead(
  (ex, orgId, page: AuditPage) => ({ rows: auditPageFact(ex, orgId, page) }),
  ['limit'],
);
