import type { components } from '../../generated/api.js';

/**
 * The representations the service answers with, as the contract defines them: derived from
 * `generated/api.d.ts`, never restated, so a change to `openapi/` reaches the domain's types.
 */
type Schemas = components['schemas'];

export type MemberStatus = Schemas['MemberStatus'];
export type TeamRole = Schemas['TeamRole'];
export type Organization = Schemas['Organization'];
export type User = Schemas['User'];
export type RoleRef = Schemas['RoleRef'];
export type MemberTeam = Schemas['MemberTeam'];
export type Member = Schemas['Member'];
export type Role = Schemas['Role'];
export type Team = Schemas['Team'];
export type TeamMember = Schemas['TeamMember'];
export type ApiKey = Schemas['ApiKey'];
export type ApiKeyCreated = Schemas['ApiKeyCreated'];
export type AuditAction = Schemas['AuditAction'];
export type AuditSnapshot = Schemas['AuditSnapshot'];
export type AuditEvent = Schemas['AuditEvent'];
export type UserMembership = Schemas['UserMembership'];
export type AccessEvaluation = Schemas['AccessEvaluation'];
export type AccessEvaluations = Schemas['AccessEvaluations'];
export type AccessEvaluationsResult = Schemas['AccessEvaluationsResult'];
export type AccessDecision = Schemas['AccessDecision'];
export type AccessResource = Schemas['AccessResource'];
export type AccessPreviewAction = Schemas['AccessPreviewAction'];
export type AccessSubjectSearch = Schemas['AccessSubjectSearch'];
export type AccessResourceSearch = Schemas['AccessResourceSearch'];
export type AccessActionSearch = Schemas['AccessActionSearch'];
export type AccessSubjectSearchResult = Schemas['AccessSubjectSearchResult'];
export type AccessResourceSearchResult = Schemas['AccessResourceSearchResult'];
export type AccessActionSearchResult = Schemas['AccessActionSearchResult'];
export type EffectivePermissions = Schemas['EffectivePermissions'];
export type Invitation = Schemas['Invitation'];
export type InvitationCreated = Schemas['InvitationCreated'];
export type InvitationStatus = Schemas['InvitationStatus'];
export type BatchItemResult = Schemas['BatchItemResult'];
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type WebhookEndpointCreate = Schemas['WebhookEndpointCreate'];
export type WebhookEndpointPatch = Schemas['WebhookEndpointPatch'];
export type WebhookEndpointSecret = Schemas['WebhookEndpointSecret'];
export type WebhookEventFilter = Schemas['WebhookEventFilter'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type WebhookDeliveryStatus = Schemas['WebhookDeliveryStatus'];
export type EventStreamPage = Schemas['EventStreamPage'];

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
