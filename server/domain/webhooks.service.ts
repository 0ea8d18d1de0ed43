import { randomBytes } from 'node:crypto';
import type { Executor } from '../storage/database.js';
import {
  deleteEndpoint,
  findDelivery,
  findEndpoint,
  insertEndpoint,
  insertPayloadDelivery,
  listDeliveries,
  listEndpoints,
  listEventsAfter,
  requeueDelivery,
  updateEndpoint,
} from '../storage/webhooks.repository.js';
import type { WebhookEndpointsTable } from '../storage/schema.js';
import type { Updateable } from 'kysely';
import { AppError, invalid, notFound } from '../errors.js';
import { inOrganization, readInOrganization, requirePermission } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { decodeCursor, encodeCursor, keyString, pageOf } from './cursor.js';
import { preconditionHolds, type Precondition } from './members.service.js';
import type {
  AuditEvent,
  AuditSnapshot,
  EventStreamPage,
  Page,
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookEndpointCreate,
  WebhookEndpointPatch,
  WebhookEndpointSecret,
} from './model.js';
import { toAuditEvent, toWebhookDelivery, toWebhookEndpoint } from './representations.js';

const MANAGE = 'webhooks:manage';
/** After a rotation the previous secret signs too, this long. */
export const PREVIOUS_SECRET_VALID_MS = 24 * 60 * 60 * 1000;
/** The longest a `listEvents` request may be held (api.md: `wait` ≤ 30 s). */
export const MAX_WAIT_SECONDS = 30;

const endpointNotFound = () => notFound('The webhook endpoint');
const endpointPreconditionFailed = () =>
  new AppError(
    'PRECONDITION_FAILED',
    'The webhook endpoint has changed since you read it (If-Match does not match its ETag); read it again.',
  );

/** A signing secret: `whsec_` and 32 random bytes, base64 (what `standardwebhooks` reads). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * No server-side request forgery (api.md, "Webhooks"): the URL must pass the deployment's guard
 * (https, public addresses only) before it is saved; a refusal is 400 naming the reason.
 */
async function requireAllowedUrl(deps: DomainDeps, url: string): Promise<void> {
  if (!deps.webhookUrls) {
    throw new AppError('SERVICE_UNAVAILABLE', 'Webhook endpoints cannot be saved here.');
  }
  const checked = await deps.webhookUrls.check(url);
  if (!checked.ok) {
    throw invalid('body', 'url', `The webhook URL ${checked.reason}.`);
  }
}

/** Only `webhooks:manage` may see or change endpoints; the platform key reads them. */
async function requireManager(deps: DomainDeps, ctx: RequestContext, orgId: string) {
  await readInOrganization(deps, ctx, orgId, (_db, actor) => requirePermission(actor, MANAGE));
}

async function loadEndpoint(
  ex: Executor,
  orgId: string,
  endpointId: string,
  pre: Precondition = {},
) {
  const endpoint = await findEndpoint(ex, orgId, endpointId);
  if (!endpoint) throw endpointNotFound();
  if (!preconditionHolds(pre, endpoint.version)) throw endpointPreconditionFailed();
  return endpoint;
}

const snapshot = (endpoint: {
  url: string;
  events: string[];
  status: 'enabled' | 'disabled';
}): AuditSnapshot => ({
  url: endpoint.url,
  events: endpoint.events as AuditSnapshot['events'],
  endpointStatus: endpoint.status,
});

export async function listWebhookEndpoints(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: { limit: number; cursor?: string | undefined },
): Promise<Page<WebhookEndpoint>> {
  return readInOrganization(deps, ctx, orgId, async (db, actor) => {
    requirePermission(actor, MANAGE);
    const after =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, 'webhook-endpoints', orgId), 0);
    const rows = await listEndpoints(db, orgId, query.limit + 1, after);
    return pageOf(rows, query.limit, toWebhookEndpoint, (row) =>
      encodeCursor('webhook-endpoints', orgId, [row.id]),
    );
  });
}

export async function getWebhookEndpoint(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
): Promise<WebhookEndpoint> {
  return readInOrganization(deps, ctx, orgId, async (db, actor) => {
    requirePermission(actor, MANAGE);
    return toWebhookEndpoint(await loadEndpoint(db, orgId, endpointId));
  });
}

/** Creates an endpoint and answers its secret, once. */
export async function createWebhookEndpoint(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  body: WebhookEndpointCreate,
): Promise<WebhookEndpointSecret> {
  // The permission first, so that only managers learn what the guard thinks of a URL.
  await requireManager(deps, ctx, orgId);
  await requireAllowedUrl(deps, body.url);
  return inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    requirePermission(actor, MANAGE);
    const secret = newWebhookSecret();
    const row = await insertEndpoint(trx, {
      id: deps.ids.next('whe'),
      org_id: orgId,
      url: body.url,
      description: body.description ?? null,
      events: [...new Set(body.events)],
      status: 'enabled',
      disabled_reason: null,
      secret,
      previous_secret: null,
      previous_secret_expires_at: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
    });
    audit({
      action: 'webhook_endpoint.created',
      targetId: row.id,
      before: null,
      after: snapshot(row),
    });
    return { endpoint: toWebhookEndpoint(row), secret, previousSecretExpiresAt: null };
  });
}

/** Changes an endpoint; enabling it again clears the reason it was disabled for. */
export async function updateWebhookEndpoint(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
  patch: WebhookEndpointPatch,
  pre: Precondition,
): Promise<WebhookEndpoint> {
  if (patch.url !== undefined) {
    await requireManager(deps, ctx, orgId);
    await requireAllowedUrl(deps, patch.url);
  }
  return inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    requirePermission(actor, MANAGE);
    const before = await loadEndpoint(trx, orgId, endpointId, pre);
    const changes: Updateable<WebhookEndpointsTable> = {};
    if (patch.url !== undefined) changes.url = patch.url;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.events !== undefined) changes.events = [...new Set(patch.events)];
    if (patch.status !== undefined) {
      changes.status = patch.status;
      changes.disabled_reason = null;
      if (patch.status === 'enabled') changes.failing_since = null;
    }
    const after = (await updateEndpoint(trx, orgId, endpointId, changes, now))!;
    audit({
      action: 'webhook_endpoint.updated',
      targetId: endpointId,
      before: snapshot(before),
      after: snapshot(after),
    });
    return toWebhookEndpoint(after);
  });
}

export async function deleteWebhookEndpoint(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
  pre: Precondition,
): Promise<void> {
  await inOrganization(deps, ctx, orgId, async (trx, actor, _org, { audit }) => {
    requirePermission(actor, MANAGE);
    const endpoint = await loadEndpoint(trx, orgId, endpointId, pre);
    await deleteEndpoint(trx, orgId, endpointId);
    audit({
      action: 'webhook_endpoint.deleted',
      targetId: endpointId,
      before: snapshot(endpoint),
      after: null,
    });
  });
}

/** A new secret; the previous one keeps signing for 24 hours. */
export async function rotateWebhookSecret(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
): Promise<WebhookEndpointSecret> {
  return inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now, audit }) => {
    requirePermission(actor, MANAGE);
    const before = await loadEndpoint(trx, orgId, endpointId);
    const secret = newWebhookSecret();
    const expires = new Date(now.getTime() + PREVIOUS_SECRET_VALID_MS);
    const after = (await updateEndpoint(
      trx,
      orgId,
      endpointId,
      { secret, previous_secret: before.secret, previous_secret_expires_at: expires },
      now,
    ))!;
    audit({
      action: 'webhook_endpoint.secret_rotated',
      targetId: endpointId,
      before: null,
      after: null,
    });
    return {
      endpoint: toWebhookEndpoint(after),
      secret,
      previousSecretExpiresAt: expires.toISOString(),
    };
  });
}

/** Queues a `webhook.test` event for one endpoint. */
export async function sendTestWebhook(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
): Promise<WebhookDelivery> {
  const delivery = await inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now }) => {
    requirePermission(actor, MANAGE);
    await loadEndpoint(trx, orgId, endpointId);
    const row = await insertPayloadDelivery(
      trx,
      {
        endpointId,
        eventId: deps.ids.next('evt'),
        orgId,
        type: 'webhook.test',
        payload: { organizationId: orgId, endpointId },
      },
      now,
    );
    return toWebhookDelivery({ ...row, recent_attempts: [] });
  });
  deps.events?.notifyDeliveries();
  return delivery;
}

export async function listWebhookDeliveries(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
  query: { status?: WebhookDeliveryStatus | undefined; limit: number; cursor?: string | undefined },
): Promise<Page<WebhookDelivery>> {
  return readInOrganization(deps, ctx, orgId, async (db, actor) => {
    requirePermission(actor, MANAGE);
    await loadEndpoint(db, orgId, endpointId);
    const list = `webhook-deliveries:${endpointId}`;
    const before =
      query.cursor === undefined
        ? undefined
        : keyString(decodeCursor(query.cursor, list, orgId), 0);
    const rows = await listDeliveries(db, endpointId, query.status, query.limit + 1, before);
    return pageOf(rows, query.limit, toWebhookDelivery, (row) =>
      encodeCursor(list, orgId, [row.event_id]),
    );
  });
}

/** Sends a delivery again now, with a fresh retry schedule. */
export async function retryWebhookDelivery(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
  deliveryId: string,
): Promise<WebhookDelivery> {
  const delivery = await inOrganization(deps, ctx, orgId, async (trx, actor, _org, { now }) => {
    requirePermission(actor, MANAGE);
    await loadEndpoint(trx, orgId, endpointId);
    if (!(await requeueDelivery(trx, endpointId, deliveryId, now))) {
      throw notFound('The delivery');
    }
    return toWebhookDelivery((await findDelivery(trx, endpointId, deliveryId))!);
  });
  deps.events?.notifyDeliveries();
  return delivery;
}

/**
 * The event stream: the organization's events after `after`, oldest first. When none follows
 * yet and `wait` is given, the request is held until one is committed (the organization's
 * changes are serialized by its lock and event ids grow with them, so resuming from the last id
 * seen never skips one) or the time runs out.
 */
export async function listEvents(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  query: {
    after?: string | undefined;
    types?: readonly string[] | undefined;
    limit: number;
    wait: number;
  },
): Promise<EventStreamPage> {
  const deadline = Date.now() + Math.min(query.wait, MAX_WAIT_SECONDS) * 1000;
  const read = () =>
    readInOrganization(deps, ctx, orgId, async (db, actor) => {
      requirePermission(actor, 'audit:read');
      return (await listEventsAfter(db, orgId, query.after, query.types, query.limit)).map(
        toAuditEvent,
      );
    });
  let events: AuditEvent[] = await read();
  while (events.length === 0 && deps.events && Date.now() < deadline) {
    const woken = await deps.events.wait(orgId, deadline - Date.now());
    if (woken === 'closed') break;
    events = await read();
  }
  return { data: events, lastEventId: events.at(-1)?.id ?? query.after ?? null };
}
