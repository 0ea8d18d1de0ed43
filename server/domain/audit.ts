import type { NewAuditEvent } from '../storage/schema.js';
import type { DomainDeps, RequestContext } from './context.js';
import type { AuditAction, AuditSnapshot } from './model.js';

export interface AuditChange {
  action: AuditAction;
  targetUserId?: string | null;
  targetId?: string | null;
  before: AuditSnapshot | null;
  after: AuditSnapshot | null;
}

/** Rule 11: the event row for a change, written by the caller in the change's transaction. */
export function auditEvent(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  now: Date,
  change: AuditChange,
): NewAuditEvent {
  const { principal } = ctx;
  return {
    id: deps.ids.next('evt'),
    org_id: orgId,
    action: change.action,
    actor_type: principal.kind === 'member' ? 'member' : 'platform',
    actor_user_id: principal.kind === 'member' ? principal.userId : null,
    actor_key_id: principal.kind === 'member' ? principal.apiKeyId : null,
    target_user_id: change.targetUserId ?? null,
    target_id: change.targetId ?? null,
    before: change.before ? JSON.stringify(change.before) : null,
    after: change.after ? JSON.stringify(change.after) : null,
    request_id: ctx.requestId,
    occurred_at: now,
  };
}
