import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface ServiceSettingsTable {
  key: string;
  value: string;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  slug: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  version: Generated<number>;
  max_members: ColumnType<number | null, number | null | undefined, number | null>;
  /** A new random id at every change to the organization (see `lockOrganizationFor`). */
  revision: ColumnType<string, never, never>;
}

export interface RolesTable {
  org_id: string;
  id: string;
  name: string;
  description: string | null;
  permissions: string[];
  built_in: boolean;
  is_default: Generated<boolean>;
  rank: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  version: Generated<number>;
}

export interface MembershipsTable {
  org_id: string;
  user_id: string;
  email: string;
  name: string | null;
  image_url: string | null;
  role_id: string;
  status: 'active' | 'suspended';
  joined_at: Timestamp;
  updated_at: Timestamp;
  version: Generated<number>;
}

export interface TeamsTable {
  org_id: string;
  id: string;
  name: string;
  description: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  version: Generated<number>;
}

export interface TeamMembersTable {
  org_id: string;
  team_id: string;
  user_id: string;
  role: 'lead' | 'member';
  added_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  user_id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
}

export interface AuditEventsTable {
  id: string;
  org_id: string;
  action: string;
  actor_type: 'member' | 'platform';
  actor_user_id: string | null;
  actor_key_id: string | null;
  actor_via: 'api_key' | 'token' | 'platform' | null;
  target_user_id: string | null;
  target_id: string | null;
  before: ColumnType<Record<string, unknown> | null, string | null, never>;
  after: ColumnType<Record<string, unknown> | null, string | null, never>;
  request_id: string;
  occurred_at: Timestamp;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  fingerprint: string;
  state: 'in_progress' | 'committed' | 'done';
  status: number | null;
  headers: ColumnType<Record<string, string> | null, string | null, string | null>;
  body: ColumnType<unknown, string | null, string | null>;
  created_at: Timestamp;
}

export interface ProductPermissionsTable {
  id: string;
  description: string;
  included_in: string[];
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';

export interface InvitationsTable {
  org_id: string;
  id: string;
  email: string;
  role_id: string;
  status: InvitationStatus;
  invited_by: string | null;
  token_hash: string;
  created_at: Timestamp;
  expires_in_days: number;
  expires_at: Timestamp;
  responded_at: Timestamp | null;
  updated_at: Timestamp;
  version: Generated<number>;
}

export interface WebhookEndpointsTable {
  id: string;
  org_id: string;
  url: string;
  description: string | null;
  events: string[];
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Timestamp | null;
  failing_since: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  version: Generated<number>;
}

export interface InvitationTeamsTable {
  org_id: string;
  invitation_id: string;
  team_id: string;
  role: 'lead' | 'member';
}

export interface WebhookDeliveriesTable {
  endpoint_id: string;
  event_id: string;
  org_id: string;
  event_type: string;
  /** The body's `data` for events that are not audit events (a test event); null otherwise. */
  payload: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: Generated<number>;
  /** Failed attempts since the schedule (re)started: the position in the retry schedule. */
  retries: Generated<number>;
  next_attempt_at: Timestamp | null;
  locked_until: Timestamp | null;
  created_at: Timestamp;
}

export interface WebhookAttemptsTable {
  endpoint_id: string;
  event_id: string;
  number: number;
  attempted_at: Timestamp;
  outcome: 'succeeded' | 'failed' | 'timeout' | 'unreachable' | 'refused';
  response_status: number | null;
  duration_ms: number;
  response_body: string | null;
}

export interface Database {
  service_settings: ServiceSettingsTable;
  organizations: OrganizationsTable;
  roles: RolesTable;
  memberships: MembershipsTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  product_permissions: ProductPermissionsTable;
  invitations: InvitationsTable;
  invitation_teams: InvitationTeamsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}

export type OrganizationRow = Selectable<OrganizationsTable>;
export type RoleRow = Selectable<RolesTable>;
export type MembershipRow = Selectable<MembershipsTable>;
export type TeamRow = Selectable<TeamsTable>;
export type TeamMemberRow = Selectable<TeamMembersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type InvitationRow = Selectable<InvitationsTable>;
export type NewAuditEvent = Insertable<AuditEventsTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
