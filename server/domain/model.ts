import type { Permission } from './permissions.js';

/** The representations the service answers with; the HTTP layer checks them against the contract's types. */
export type MemberStatus = 'active' | 'suspended';
export type TeamRole = 'lead' | 'member';

export interface Organization {
  id: string;
  name: string;
  slug: string;
  createdAt: string;
  updatedAt: string;
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  imageUrl: string | null;
}

export interface RoleRef {
  id: string;
  name: string;
  permissions: Permission[];
}

export interface MemberTeam {
  id: string;
  name: string;
  role: TeamRole;
}

export interface Member {
  organizationId: string;
  userId: string;
  user: User;
  role: RoleRef;
  status: MemberStatus;
  teams: MemberTeam[];
  joinedAt: string;
  updatedAt: string;
  version: number;
}

export interface Role {
  id: string;
  organizationId: string;
  name: string;
  description: string | null;
  permissions: Permission[];
  builtIn: boolean;
  isDefault: boolean;
  memberCount: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface Team {
  id: string;
  organizationId: string;
  name: string;
  description: string | null;
  memberCount: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface TeamMember {
  teamId: string;
  userId: string;
  user: User;
  role: TeamRole;
  addedAt: string;
  updatedAt: string;
}

export interface ApiKey {
  id: string;
  organizationId: string;
  userId: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface ApiKeyCreated extends ApiKey {
  secret: string;
}

export type AuditAction =
  | 'organization.created'
  | 'organization.updated'
  | 'member.added'
  | 'member.role_changed'
  | 'member.status_changed'
  | 'member.removed'
  | 'ownership.transferred'
  | 'role.created'
  | 'role.updated'
  | 'role.deleted'
  | 'team.created'
  | 'team.updated'
  | 'team.deleted'
  | 'team_member.added'
  | 'team_member.role_changed'
  | 'team_member.removed'
  | 'api_key.created'
  | 'api_key.revoked';

export interface AuditSnapshot {
  roleId?: string;
  status?: MemberStatus;
  name?: string;
  slug?: string;
  description?: string | null;
  permissions?: Permission[];
  isDefault?: boolean;
  teamId?: string;
  teamRole?: TeamRole;
  email?: string;
  apiKeyId?: string;
}

export interface AuditEvent {
  id: string;
  organizationId: string;
  action: AuditAction;
  actor: { type: 'member' | 'platform'; userId: string | null; apiKeyId: string | null };
  targetUserId: string | null;
  targetId: string | null;
  before: AuditSnapshot | null;
  after: AuditSnapshot | null;
  requestId: string;
  occurredAt: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
