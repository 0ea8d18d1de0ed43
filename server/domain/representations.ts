import type { AuditEventRecord } from '../storage/audit.repository.js';
import type { InvitationRecord } from '../storage/invitations.repository.js';
import type { MemberRecord } from '../storage/members.repository.js';
import type { RoleRecord } from '../storage/roles.repository.js';
import type { TeamMemberRecord, TeamRecord } from '../storage/teams.repository.js';
import type { ApiKeyRow, OrganizationRow, WebhookEndpointRow } from '../storage/schema.js';
import type { DeliveryRecord } from '../storage/webhooks.repository.js';
import { renderableUrl } from './text.js';
import type {
  ApiKey,
  AuditAction,
  AuditEvent,
  Invitation,
  Member,
  Organization,
  Role,
  Team,
  TeamMember,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEventFilter,
} from './model.js';

/**
 * PostgreSQL's JSON spelling of a UTC timestamp (`2026-11-30T16:03:54.123456+00:00`), as row_to_json
 * writes one in a session whose time zone is UTC.
 */
const POSTGRES_UTC = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00:00$/;

/**
 * A timestamp as the contract writes it (ISO 8601, milliseconds, `Z`). PostgreSQL's UTC spelling
 * is rewritten as text (a list of fifty members has a hundred of them); anything else goes
 * through Date, which truncates to milliseconds just as the rewrite does.
 */
export function iso(value: Date | string): string {
  if (typeof value === 'string') {
    const utc = POSTGRES_UTC.exec(value);
    if (utc) return `${utc[1]}.${`${utc[2] ?? ''}000`.slice(0, 3)}Z`;
  }
  return new Date(value).toISOString();
}

/** Seats in use: members, and pending invitations whose time has not passed. */
export interface SeatCounts {
  members: number;
  pending: number;
}

export function toOrganization(row: OrganizationRow, seats: SeatCounts): Organization {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    version: row.version,
    maxMembers: row.max_members ?? null,
    memberCount: Number(seats.members),
    pendingInvitationCount: Number(seats.pending),
  };
}

/** An invitation as shown at `now`: a pending one whose time has passed is `expired`. */
export function toInvitation(record: InvitationRecord, now: Date): Invitation {
  const expired = record.status === 'pending' && new Date(record.expires_at) <= now;
  return {
    id: record.id,
    organizationId: record.org_id,
    email: record.email,
    // A custom role deleted since the invitation was made: it names the role it had.
    role: {
      id: record.role_id,
      name: record.role_name ?? record.role_id,
      permissions: record.role_permissions ?? [],
    },
    teams: record.teams,
    status: expired ? 'expired' : record.status,
    invitedBy: record.invited_by,
    createdAt: iso(record.created_at),
    expiresAt: iso(record.expires_at),
    respondedAt: record.responded_at ? iso(record.responded_at) : null,
    version: record.version,
  };
}

export function toMember(record: MemberRecord): Member {
  return {
    organizationId: record.org_id,
    userId: record.user_id,
    user: {
      id: record.user_id,
      email: record.email,
      name: record.name,
      imageUrl: renderableUrl(record.image_url),
    },
    role: {
      id: record.role_id,
      name: record.role_name,
      permissions: record.role_permissions,
    },
    status: record.status,
    teams: record.teams,
    joinedAt: iso(record.joined_at),
    updatedAt: iso(record.updated_at),
    version: record.version,
  };
}

export function toRole(row: RoleRecord): Role {
  return {
    id: row.id,
    organizationId: row.org_id,
    name: row.name,
    description: row.description,
    permissions: row.permissions,
    builtIn: row.built_in,
    isDefault: row.is_default,
    memberCount: row.member_count,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    version: row.version,
  };
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    organizationId: row.org_id,
    userId: row.user_id,
    name: row.name,
    prefix: row.prefix,
    createdAt: iso(row.created_at),
    lastUsedAt: row.last_used_at ? iso(row.last_used_at) : null,
  };
}

export function toAuditEvent(row: AuditEventRecord): AuditEvent {
  return {
    id: row.id,
    organizationId: row.org_id,
    action: row.action as AuditAction,
    actor: {
      type: row.actor_type,
      userId: row.actor_user_id,
      apiKeyId: row.actor_key_id,
      // Events written before credentials other than keys existed name no `via`.
      via: row.actor_via ?? (row.actor_type === 'platform' ? 'platform' : 'api_key'),
    },
    targetUserId: row.target_user_id,
    targetId: row.target_id,
    before: row.before,
    after: row.after,
    requestId: row.request_id,
    occurredAt: iso(row.occurred_at),
  };
}

export function toTeam(row: TeamRecord): Team {
  return {
    id: row.id,
    organizationId: row.org_id,
    name: row.name,
    description: row.description,
    memberCount: row.member_count,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    version: row.version,
  };
}

export function toTeamMember(row: TeamMemberRecord): TeamMember {
  return {
    teamId: row.team_id,
    userId: row.user_id,
    user: {
      id: row.user_id,
      email: row.email,
      name: row.name,
      imageUrl: renderableUrl(row.image_url),
    },
    role: row.role,
    addedAt: iso(row.added_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toWebhookEndpoint(row: WebhookEndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    organizationId: row.org_id,
    url: row.url,
    description: row.description,
    events: row.events as WebhookEventFilter[],
    status: row.status,
    disabledReason: row.disabled_reason,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    version: row.version,
  };
}

export function toWebhookDelivery(row: DeliveryRecord): WebhookDelivery {
  return {
    id: row.event_id,
    endpointId: row.endpoint_id,
    eventType: row.event_type,
    status: row.status,
    attemptCount: row.attempt_count,
    nextAttemptAt:
      row.status === 'pending' && row.next_attempt_at ? iso(row.next_attempt_at) : null,
    createdAt: iso(row.created_at),
    attempts: row.recent_attempts.map((a) => ({
      attemptedAt: iso(a.attempted_at),
      outcome: a.outcome,
      responseStatus: a.response_status,
      durationMs: a.duration_ms,
      responseBody: a.response_body,
    })),
  };
}
