import { sql } from 'kysely';
import * as apiKeys from '../domain/api-keys.service.js';
import * as audit from '../domain/audit.service.js';
import type { DomainDeps } from '../domain/context.js';
import { AppError, invalid, notFound } from '../errors.js';
import * as batch from '../domain/batch.service.js';
import * as invitations from '../domain/invitations.service.js';
import * as members from '../domain/members.service.js';
import type { Precondition } from '../domain/members.service.js';
import * as organizations from '../domain/organizations.service.js';
import * as permissions from '../domain/permissions.service.js';
import * as customRoles from '../domain/custom-roles.service.js';
import * as decisions from '../domain/decisions.service.js';
import * as roles from '../domain/roles.service.js';
import * as teams from '../domain/teams.service.js';
import * as webhooks from '../domain/webhooks.service.js';
import type { Metrics } from '../infra/metrics.js';
import type { Handlers } from './handler-types.js';
import { problemBody } from './problem.js';
import { problemPages } from './problem-pages.js';
import type { BatchItem } from '../domain/batch.service.js';
import type { RequestContext } from '../domain/context.js';

export interface HandlerDeps extends DomainDeps {
  document: { json: object; yaml: string; docsHtml: string };
  metrics: Metrics;
  /** Where clients reach the service, when the deployment says (`MEMBER_ROLES_PUBLIC_URL`). */
  publicUrl?: string | undefined;
}

/** A host name or address literal, with an optional port: what a `Host` header may hold. */
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/**
 * The AuthZEN decision point's identifier: the deployment's public URL, or else the origin the
 * request was sent to, when its `Host` is a host.
 */
export function decisionPointOf(publicUrl: string | undefined, origin: string): string {
  if (publicUrl !== undefined) return publicUrl;
  const [scheme, host = ''] = origin.split('://');
  if (!HOST.test(host)) {
    throw invalid(
      'header',
      'Host',
      'The Host header is not a host name with an optional port; the metadata names URLs on it.',
    );
  }
  return `${scheme}://${host}`;
}

const etag = (version: number) => `"${version}"`;

/** One entity tag (RFC 9110): optionally weak, always quoted. */
const ENTITY_TAG = String.raw`\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*`;
const ENTITY_TAG_LIST = new RegExp(`^${ENTITY_TAG}(?:,${ENTITY_TAG})*$`);

/**
 * `If-Match`: absent or `*` asks nothing; otherwise a list of entity tags, of which only strong
 * `"N"` tags can match (a weak or foreign one never does). The domain answers 412 when none
 * matches, after the tenancy and existence checks. A header that is not a list of quoted tags
 * (`3` for `"3"`) is a mistake to point out, not a version that differs: 400.
 */
export function parseIfMatch(header: string | undefined): Precondition {
  if (header === undefined || header.trim() === '*') return {};
  if (!ENTITY_TAG_LIST.test(header)) {
    throw invalid(
      'header',
      'If-Match',
      'If-Match must be the ETag as sent, in double quotes (`If-Match: "3"`), or a comma-separated list of such tags.',
    );
  }
  const acceptedVersions = [...header.matchAll(new RegExp(ENTITY_TAG, 'g'))]
    .filter(([, weak, tag]) => weak === undefined && /^[1-9][0-9]{0,8}$/.test(tag ?? ''))
    .map(([, , tag]) => Number(tag));
  return { acceptedVersions };
}

/** `Cache-Control`: whether its directives include `no-cache` (any case; other directives ignored). */
export function asksNoCache(header: string | undefined): boolean {
  return (
    header !== undefined && header.split(',').some((d) => d.trim().toLowerCase() === 'no-cache')
  );
}

/** `since`: a real instant between years 1 and 9999 (both databases store those). */
export function parseSince(value: string): Date {
  const date = new Date(value);
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 1 || year > 9999) {
    throw invalid('query', 'since', 'must be a date-time between years 1 and 9999');
  }
  return date;
}

/**
 * A batch's per-item results: each item's status and body (its value, or its problem with its own
 * code); an atomic batch with a refused item is `409 BATCH_FAILED` carrying them all.
 */
async function batchAnswer<T>(
  ctx: RequestContext,
  instance: string,
  run: () => Promise<BatchItem<T>[]>,
) {
  const results = (items: BatchItem<T>[]) =>
    items.map(({ index, status, outcome }) => ({
      index,
      status,
      body: outcome.applied
        ? ((outcome.value ?? null) as never)
        : (problemBody(outcome.error, instance, ctx.requestId) as never),
    }));
  try {
    return { status: 200 as const, body: { results: results(await run()) } };
  } catch (error) {
    if (!(error instanceof batch.BatchRefused)) throw error;
    const items = error.items as BatchItem<T>[];
    const refused = items.filter((item) => !item.outcome.applied).length;
    throw new AppError(
      'BATCH_FAILED',
      `${refused} of ${items.length} items were refused; the batch is atomic, so nothing was applied.`,
      undefined,
      undefined,
      { results: results(items) },
    );
  }
}

/** The thin HTTP side of every operation: typed input → domain call → status, headers, body. */
export function createHandlers(deps: HandlerDeps): Handlers {
  // /readyz needs no key, so it is not rate-limited: one database check each half second serves
  // everyone. A database that does not answer within a second counts as away.
  let readiness: { at: number; answer: Promise<boolean> } | undefined;
  const pages = problemPages(deps.document.json);
  const databaseAnswers = () => {
    const now = Date.now();
    if (!readiness || now - readiness.at >= 500) {
      let timer: NodeJS.Timeout | undefined;
      readiness = {
        at: now,
        answer: Promise.race([
          sql`select 1`.execute(deps.db).then(() => true),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 1000))),
        ])
          .catch(() => false)
          .finally(() => clearTimeout(timer)),
      };
    }
    return readiness.answer;
  };

  return {
    getHealth: () => ({ status: 200, body: { status: 'ok' } }),
    getReadiness: async () => {
      if (!(await databaseAnswers())) {
        throw new AppError('SERVICE_UNAVAILABLE', 'The database does not answer.');
      }
      return { status: 200, body: { status: 'ok', database: 'ok' } };
    },
    getOpenApiJson: () => ({ status: 200, body: deps.document.json as never }),
    getOpenApiYaml: () => ({
      status: 200,
      body: deps.document.yaml,
      contentType: 'application/yaml; charset=utf-8',
    }),
    getDocs: () => ({
      status: 200,
      body: deps.document.docsHtml,
      contentType: 'text/html; charset=utf-8',
    }),
    getMetrics: async () => {
      const { text, contentType } = await deps.metrics.exposition();
      return { status: 200, body: text, contentType };
    },
    getProblemType: ({ params }) => {
      const html = pages.get(params.code);
      if (html === undefined) throw notFound('The problem type');
      return { status: 200, body: html, contentType: 'text/html; charset=utf-8' };
    },

    getAuthzenConfiguration: ({ origin }) => {
      const base = decisionPointOf(deps.publicUrl, origin);
      return {
        status: 200,
        body: {
          policy_decision_point: base,
          access_evaluation_endpoint: `${base}/access/v1/evaluation`,
          access_evaluations_endpoint: `${base}/access/v1/evaluations`,
          search_subject_endpoint: `${base}/access/v1/search/subject`,
          search_action_endpoint: `${base}/access/v1/search/action`,
          search_resource_endpoint: `${base}/access/v1/search/resource`,
        },
        headers: { 'Cache-Control': 'public, max-age=300' },
      };
    },
    evaluateAccess: async ({ ctx, body }) => ({
      status: 200,
      body: await decisions.evaluateAccess(deps, ctx, body),
    }),
    evaluateAccessBatch: async ({ ctx, body }) => ({
      status: 200,
      body: await decisions.evaluateAccessBatch(deps, ctx, body),
    }),
    searchSubjects: async ({ ctx, body }) => ({
      status: 200,
      body: await decisions.searchSubjects(deps, ctx, body),
    }),
    searchResources: async ({ ctx, body }) => ({
      status: 200,
      body: await decisions.searchResources(deps, ctx, body),
    }),
    searchActions: async ({ ctx, body }) => ({
      status: 200,
      body: await decisions.searchActions(deps, ctx, body),
    }),
    getEffectivePermissions: async ({ ctx, params }) => ({
      status: 200,
      body: await decisions.getEffectivePermissions(deps, ctx, params.orgId, params.userId),
    }),

    listPermissions: async ({ ctx }) => ({
      status: 200,
      body: await permissions.listPermissions(deps, ctx),
    }),
    upsertPermission: async ({ ctx, params, body }) => {
      const { created, permission } = await permissions.upsertPermission(
        deps,
        ctx,
        params.permissionId,
        body,
      );
      return created ? { status: 201, body: permission } : { status: 200, body: permission };
    },
    deletePermission: async ({ ctx, params }) => {
      await permissions.deletePermission(deps, ctx, params.permissionId);
      return { status: 204, body: undefined };
    },
    listUserMemberships: async ({ ctx, params, query }) => ({
      status: 200,
      body: await organizations.listUserMemberships(deps, ctx, params.userId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),

    listOrganizations: async ({ ctx, query }) => ({
      status: 200,
      body: await organizations.listOrganizations(deps, ctx, {
        q: query.q,
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    deleteOrganization: async ({ ctx, params, headers }) => {
      await organizations.deleteOrganization(
        deps,
        ctx,
        params.orgId,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 204, body: undefined };
    },

    createOrganization: async ({ ctx, body }) => {
      const created = await organizations.createOrganization(deps, ctx, body);
      return {
        status: 201,
        body: created,
        headers: { Location: `/v1/organizations/${created.organization.id}` },
      };
    },
    getOrganization: async ({ ctx, params }) => {
      const organization = await organizations.getOrganization(deps, ctx, params.orgId);
      return { status: 200, body: organization, headers: { ETag: etag(organization.version) } };
    },
    updateOrganization: async ({ ctx, params, body }) => {
      const organization = await organizations.updateOrganization(deps, ctx, params.orgId, body);
      return { status: 200, body: organization, headers: { ETag: etag(organization.version) } };
    },

    listMembers: async ({ ctx, params, query, headers }) => ({
      status: 200,
      body: await members.listMembers(deps, ctx, params.orgId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
        roleId: query.role,
        status: query.status,
        teamId: query.teamId,
        q: query.q,
        renderAnew: asksNoCache(headers['Cache-Control']),
      }),
    }),
    addMember: async ({ ctx, params, body }) => {
      const member = await members.addMember(deps, ctx, params.orgId, body);
      return {
        status: 201,
        body: member,
        headers: {
          ETag: etag(member.version),
          Location: `/v1/organizations/${params.orgId}/members/${encodeURIComponent(member.userId)}`,
        },
      };
    },
    getMember: async ({ ctx, params }) => {
      const member = await members.getMember(deps, ctx, params.orgId, params.userId);
      return { status: 200, body: member, headers: { ETag: etag(member.version) } };
    },
    getCurrentMember: async ({ ctx, params }) => {
      const member = await members.getCurrentMember(deps, ctx, params.orgId);
      return { status: 200, body: member, headers: { ETag: etag(member.version) } };
    },
    updateMember: async ({ ctx, params, body, headers }) => {
      const member = await members.changeMember(
        deps,
        ctx,
        params.orgId,
        params.userId,
        body,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 200, body: member, headers: { ETag: etag(member.version) } };
    },
    setMemberRole: async ({ ctx, params, body, headers }) => {
      const member = await members.changeMember(
        deps,
        ctx,
        params.orgId,
        params.userId,
        { roleId: body.roleId },
        parseIfMatch(headers['If-Match']),
      );
      return { status: 200, body: member, headers: { ETag: etag(member.version) } };
    },
    removeMember: async ({ ctx, params, headers }) => {
      await members.removeMember(
        deps,
        ctx,
        params.orgId,
        params.userId,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 204, body: undefined };
    },
    transferOwnership: async ({ ctx, params, body }) => ({
      status: 200,
      body: await members.transferOwnership(deps, ctx, params.orgId, body.userId),
    }),

    batchMembers: ({ ctx, params, body }) =>
      batchAnswer(ctx, `/v1/organizations/${params.orgId}/members/batch`, () =>
        batch.batchMembers(deps, ctx, params.orgId, body),
      ),

    listInvitations: async ({ ctx, params, query }) => ({
      status: 200,
      body: await invitations.listInvitations(deps, ctx, params.orgId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
        status: query.status,
        email: query.email,
      }),
    }),
    createInvitation: async ({ ctx, params, body }) => {
      const invitation = await invitations.createInvitation(deps, ctx, params.orgId, body);
      return {
        status: 201,
        body: invitation,
        headers: {
          ETag: etag(invitation.version),
          Location: `/v1/organizations/${params.orgId}/invitations/${invitation.id}`,
        },
      };
    },
    getInvitation: async ({ ctx, params }) => {
      const invitation = await invitations.getInvitation(
        deps,
        ctx,
        params.orgId,
        params.invitationId,
      );
      return { status: 200, body: invitation, headers: { ETag: etag(invitation.version) } };
    },
    revokeInvitation: async ({ ctx, params }) => {
      await invitations.revokeInvitation(deps, ctx, params.orgId, params.invitationId);
      return { status: 204, body: undefined };
    },
    resendInvitation: async ({ ctx, params }) => {
      const invitation = await invitations.resendInvitation(
        deps,
        ctx,
        params.orgId,
        params.invitationId,
      );
      return { status: 200, body: invitation, headers: { ETag: etag(invitation.version) } };
    },
    acceptInvitation: async ({ ctx, body }) => ({
      status: 200,
      body: await invitations.acceptInvitation(deps, ctx, body),
    }),
    declineInvitation: async ({ ctx, body }) => ({
      status: 200,
      body: await invitations.declineInvitation(deps, ctx, body.token),
    }),
    batchInvitations: ({ ctx, params, body }) =>
      batchAnswer(ctx, `/v1/organizations/${params.orgId}/invitations/batch`, () =>
        batch.batchInvitations(deps, ctx, params.orgId, body),
      ),

    listRoles: async ({ ctx, params, query }) => ({
      status: 200,
      body: await roles.listRoles(deps, ctx, params.orgId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    getRole: async ({ ctx, params }) => {
      const role = await roles.getRole(deps, ctx, params.orgId, params.roleId);
      return { status: 200, body: role, headers: { ETag: etag(role.version) } };
    },
    createRole: async ({ ctx, params, body }) => {
      const role = await customRoles.createRole(deps, ctx, params.orgId, body);
      return {
        status: 201,
        body: role,
        headers: {
          ETag: etag(role.version),
          Location: `/v1/organizations/${params.orgId}/roles/${role.id}`,
        },
      };
    },
    updateRole: async ({ ctx, params, body, headers }) => {
      const role = await customRoles.updateRole(
        deps,
        ctx,
        params.orgId,
        params.roleId,
        body,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 200, body: role, headers: { ETag: etag(role.version) } };
    },
    deleteRole: async ({ ctx, params, query, headers }) => {
      await customRoles.deleteRole(
        deps,
        ctx,
        params.orgId,
        params.roleId,
        { reassignTo: query.reassignTo },
        parseIfMatch(headers['If-Match']),
      );
      return { status: 204, body: undefined };
    },

    listTeams: async ({ ctx, params, query }) => ({
      status: 200,
      body: await teams.listTeams(deps, ctx, params.orgId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    createTeam: async ({ ctx, params, body }) => {
      const team = await teams.createTeam(deps, ctx, params.orgId, body);
      return {
        status: 201,
        body: team,
        headers: {
          ETag: etag(team.version),
          Location: `/v1/organizations/${params.orgId}/teams/${team.id}`,
        },
      };
    },
    getTeam: async ({ ctx, params }) => {
      const team = await teams.getTeam(deps, ctx, params.orgId, params.teamId);
      return { status: 200, body: team, headers: { ETag: etag(team.version) } };
    },
    updateTeam: async ({ ctx, params, body, headers }) => {
      const team = await teams.updateTeam(
        deps,
        ctx,
        params.orgId,
        params.teamId,
        body,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 200, body: team, headers: { ETag: etag(team.version) } };
    },
    deleteTeam: async ({ ctx, params, headers }) => {
      await teams.deleteTeam(
        deps,
        ctx,
        params.orgId,
        params.teamId,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 204, body: undefined };
    },
    listTeamMembers: async ({ ctx, params, query }) => ({
      status: 200,
      body: await teams.listTeamMembers(deps, ctx, params.orgId, params.teamId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    setTeamMemberRole: async ({ ctx, params, body }) => {
      const { created, member } = await teams.setTeamMemberRole(
        deps,
        ctx,
        params.orgId,
        params.teamId,
        params.userId,
        body.role,
      );
      return created ? { status: 201, body: member } : { status: 200, body: member };
    },
    removeTeamMember: async ({ ctx, params }) => {
      await teams.removeTeamMember(deps, ctx, params.orgId, params.teamId, params.userId);
      return { status: 204, body: undefined };
    },

    listAuditEvents: async ({ ctx, params, query }) => ({
      status: 200,
      body: await audit.listAuditEvents(deps, ctx, params.orgId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
        action: query.action,
        actorId: query.actorId,
        targetUserId: query.targetUserId,
        since: query.since === undefined ? undefined : parseSince(query.since),
      }),
    }),

    listApiKeys: async ({ ctx, params, query }) => ({
      status: 200,
      body: await apiKeys.listApiKeys(deps, ctx, params.orgId, params.userId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    createApiKey: async ({ ctx, params, body }) => ({
      status: 201,
      body: await apiKeys.createApiKey(deps, ctx, params.orgId, params.userId, body),
    }),
    revokeApiKey: async ({ ctx, params }) => {
      await apiKeys.revokeApiKey(deps, ctx, params.orgId, params.userId, params.keyId);
      return { status: 204, body: undefined };
    },

    listWebhookEndpoints: async ({ ctx, params, query }) => ({
      status: 200,
      body: await webhooks.listWebhookEndpoints(deps, ctx, params.orgId, {
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    createWebhookEndpoint: async ({ ctx, params, body }) => {
      const created = await webhooks.createWebhookEndpoint(deps, ctx, params.orgId, body);
      return {
        status: 201,
        body: created,
        headers: {
          ETag: etag(created.endpoint.version),
          Location: `/v1/organizations/${params.orgId}/webhook-endpoints/${created.endpoint.id}`,
        },
      };
    },
    getWebhookEndpoint: async ({ ctx, params }) => {
      const endpoint = await webhooks.getWebhookEndpoint(
        deps,
        ctx,
        params.orgId,
        params.endpointId,
      );
      return { status: 200, body: endpoint, headers: { ETag: etag(endpoint.version) } };
    },
    updateWebhookEndpoint: async ({ ctx, params, body, headers }) => {
      const endpoint = await webhooks.updateWebhookEndpoint(
        deps,
        ctx,
        params.orgId,
        params.endpointId,
        body,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 200, body: endpoint, headers: { ETag: etag(endpoint.version) } };
    },
    deleteWebhookEndpoint: async ({ ctx, params, headers }) => {
      await webhooks.deleteWebhookEndpoint(
        deps,
        ctx,
        params.orgId,
        params.endpointId,
        parseIfMatch(headers['If-Match']),
      );
      return { status: 204, body: undefined };
    },
    rotateWebhookSecret: async ({ ctx, params }) => ({
      status: 200,
      body: await webhooks.rotateWebhookSecret(deps, ctx, params.orgId, params.endpointId),
    }),
    sendTestWebhook: async ({ ctx, params }) => ({
      status: 202,
      body: await webhooks.sendTestWebhook(deps, ctx, params.orgId, params.endpointId),
    }),
    listWebhookDeliveries: async ({ ctx, params, query }) => ({
      status: 200,
      body: await webhooks.listWebhookDeliveries(deps, ctx, params.orgId, params.endpointId, {
        status: query.status,
        limit: query.limit ?? 50,
        cursor: query.cursor,
      }),
    }),
    retryWebhookDelivery: async ({ ctx, params }) => ({
      status: 202,
      body: await webhooks.retryWebhookDelivery(
        deps,
        ctx,
        params.orgId,
        params.endpointId,
        params.deliveryId,
      ),
    }),
    listEvents: async ({ ctx, params, query }) => ({
      status: 200,
      body: await webhooks.listEvents(deps, ctx, params.orgId, {
        after: query.after,
        types: query.types === undefined ? undefined : [query.types].flat(),
        limit: query.limit ?? 50,
        wait: query.wait ?? 0,
      }),
    }),
  };
}
