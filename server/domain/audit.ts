import type { NewAuditEvent } from '../storage/schema.js';
import type { Actor } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import type { AuditAction, AuditSnapshot } from './model.js';

export interface AuditChange {
  action: AuditAction;
  targetUserId?: string | null;
  targetId?: string | null;
  before: AuditSnapshot | null;
  after: AuditSnapshot | null;
}

/** Rule 11: the event row for a change (null actor: the platform key), written in its transaction. */
export function auditEvent(
  deps: DomainDeps,
  ctx: RequestContext,
  actor: Actor | null,
  orgId: string,
  now: Date,
  change: AuditChange,
): NewAuditEvent {
  return {
    id: deps.ids.next('evt'),
    org_id: orgId,
    action: change.action,
    actor_type: actor ? 'member' : 'platform',
    actor_user_id: actor?.userId ?? null,
    actor_key_id: actor?.apiKeyId ?? null,
    actor_via: actor?.via ?? 'platform',
    target_user_id: change.targetUserId ?? null,
    target_id: change.targetId ?? null,
    before: change.before ? JSON.stringify(change.before) : null,
    after: change.after ? JSON.stringify(change.after) : null,
    request_id: ctx.requestId,
    occurred_at: now,
  };
}
