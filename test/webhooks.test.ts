import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { components } from '../generated/api.js';
import { PLATFORM_KEY, startTestService, type TestContext } from './support/context.js';
import { parseExposition } from './support/prometheus.js';
import { addActor, createOrg, type TestActor, type TestOrg } from './support/scenario.js';
import { startReceiver, type Receiver, type Received } from './support/webhook-receiver.js';

type AuditAction = components['schemas']['AuditAction'];
type AuditEvent = components['schemas']['AuditEvent'];

// A short retry schedule and timeout, so that failures and retries run in a second or two; a
// real receiver on 127.0.0.1 (allowed by MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE=1).
let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({
    webhookDelivery: true,
    webhookAllowPrivate: true,
    webhookRetrySchedule: [0.2, 0.2, 0.2],
    webhookTimeoutMs: 2000,
  });
});
afterAll(async () => {
  await ctx.stop();
});

const endpointsPath = '/v1/organizations/{orgId}/webhook-endpoints' as const;

async function createEndpoint(
  actor: TestActor,
  org: TestOrg,
  url: string,
  events: components['schemas']['WebhookEventFilter'][] = ['*'],
) {
  const { data, error } = await actor.client.POST(endpointsPath, {
    params: { path: { orgId: org.orgId } },
    body: { url, events, description: 'test receiver' },
  });
  if (!data) throw new Error(`createWebhookEndpoint failed: ${JSON.stringify(error)}`);
  return data;
}

async function deliveries(org: TestOrg, endpointId: string) {
  const { data } = await org.owner.client.GET(
    '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries',
    { params: { path: { orgId: org.orgId, endpointId }, query: { limit: 100 } } },
  );
  return data!.data;
}

/** Waits until `check` holds (polling the delivery log), or fails after `ms`. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 10_000) {
  const until = Date.now() + ms;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > until) throw new Error(`not so within ${ms} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

/** The HMAC Standard Webhooks defines, computed here without the package. */
function expectedSignature(secret: string, request: Received): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signed = `${String(request.headers['webhook-id'])}.${String(request.headers['webhook-timestamp'])}.${request.body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}

const headersOf = (request: Received) => ({
  'webhook-id': String(request.headers['webhook-id']),
  'webhook-timestamp': String(request.headers['webhook-timestamp']),
  'webhook-signature': String(request.headers['webhook-signature']),
});

async function auditTrail(org: TestOrg): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  for await (const event of org.owner.client.paginate('/v1/organizations/{orgId}/audit-events', {
    params: { path: { orgId: org.orgId }, query: { limit: 100 } },
  })) {
    all.push(event);
  }
  return all;
}

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.stop();
});

describe('webhook delivery (Standard Webhooks)', () => {
  test('a role change is delivered signed: Webhook.verify accepts it, the HMAC recomputed independently matches, and data is the audit event', async () => {
    const local = await startReceiver();
    try {
      const org = await createOrg(ctx);
      const member = await addActor(ctx, org, 'member');
      const { endpoint, secret } = await createEndpoint(org.owner, org, local.url, [
        'member.role_changed',
      ]);
      expect(endpoint.status).toBe('enabled');
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

      const changed = await org.owner.client.PUT(
        '/v1/organizations/{orgId}/members/{userId}/role',
        {
          params: { path: { orgId: org.orgId, userId: member.userId } },
          body: { roleId: 'viewer' },
        },
      );
      expect(changed.response.status).toBe(200);
      const [request] = await local.waitFor(1);

      const verified = new Webhook(secret).verify(request!.body, headersOf(request!)) as {
        type: string;
        timestamp: string;
        data: AuditEvent;
      };
      expect(String(request!.headers['webhook-signature'])).toBe(
        expectedSignature(secret, request!),
      );
      const [event] = (await auditTrail(org)).filter((e) => e.action === 'member.role_changed');
      expect(verified).toEqual({
        type: 'member.role_changed',
        timestamp: event!.occurredAt,
        data: event,
      });
      expect(request!.headers['webhook-id']).toBe(event!.id);
      expect(request!.headers['content-type']).toBe('application/json');
      // Signed now: within the five minutes receivers accept.
      const age = Date.now() / 1000 - Number(request!.headers['webhook-timestamp']);
      expect(Math.abs(age)).toBeLessThan(60);
      // A tampered body fails verification.
      expect(() =>
        new Webhook(secret).verify(request!.body.replace('viewer', 'owner'), headersOf(request!)),
      ).toThrow();

      const [delivery] = await eventually(
        () => deliveries(org, endpoint.id),
        (list) => list[0]?.status === 'succeeded',
      );
      expect(delivery).toMatchObject({
        id: event!.id,
        endpointId: endpoint.id,
        eventType: 'member.role_changed',
        status: 'succeeded',
        attemptCount: 1,
        nextAttemptAt: null,
      });
      expect(delivery!.attempts).toEqual([
        expect.objectContaining({ outcome: 'succeeded', responseStatus: 204, responseBody: null }),
      ]);
    } finally {
      await local.stop();
    }
  });

  test('an endpoint receives only the event types it subscribed to', async () => {
    const local = await startReceiver();
    try {
      const org = await createOrg(ctx);
      const member = await addActor(ctx, org, 'member');
      await createEndpoint(org.owner, org, local.url, ['member.removed']);
      await org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
        params: { path: { orgId: org.orgId, userId: member.userId } },
        body: { roleId: 'viewer' },
      });
      await org.owner.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: member.userId } },
      });
      const [request] = await local.waitFor(1);
      expect(JSON.parse(request!.body).type).toBe('member.removed');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(local.received).toHaveLength(1);
    } finally {
      await local.stop();
    }
  });

  test('a refused change queues nothing: the change, its event and its deliveries commit together or not at all', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { endpoint } = await createEndpoint(org.owner, org, receiver.url);
    // Its own creation is its first delivery.
    const [created] = await eventually(
      () => deliveries(org, endpoint.id),
      (list) => list[0]?.status === 'succeeded',
    );
    expect(created!.eventType).toBe('webhook_endpoint.created');
    const before = receiver.received.length;
    // An admin cannot grant what they do not hold (billing:manage): 403, no event, no delivery.
    const refused = await admin.client.POST('/v1/organizations/{orgId}/roles', {
      params: { path: { orgId: org.orgId } },
      body: { name: 'Billing', permissions: ['billing:manage'] },
    });
    expect(refused.response.status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await deliveries(org, endpoint.id)).toEqual([created]);
    expect(receiver.received.length).toBe(before);
  });
});

/**
 * Each action of the catalogue, made to happen. Typed by the contract's enum: an action added to
 * the contract (the invitations' `invitation.*`, say) fails `tsc` here until it is made to happen
 * too, and the test then checks that it reaches the endpoint. `organization.created` is the one
 * action no endpoint can hear: an organization's endpoints exist only after it does.
 */
type Scenario = Record<Exclude<AuditAction, 'organization.created'>, () => Promise<unknown>>;

describe('every action of the audit catalogue reaches a subscribed endpoint', () => {
  test('each audit event of the organization is delivered once, with its own id, including both halves of an ownership transfer and the cascade of a role deleted with reassignTo', async () => {
    const local = await startReceiver();
    try {
      const org = await createOrg(ctx);
      const o = org.owner.client;
      const orgId = org.orgId;
      const { endpoint } = await createEndpoint(org.owner, org, local.url);
      const other = await createEndpoint(org.owner, org, receiver.url, ['member.added']);
      const member = await addActor(ctx, org, 'member');
      const heir = await addActor(ctx, org, 'admin');
      let roleId = '';
      let teamId = '';
      let keyId = '';
      let newOwner = org.owner;
      let invitation = { id: '', token: '' };
      const scenario: Scenario = {
        'organization.updated': () =>
          o.PATCH('/v1/organizations/{orgId}', {
            params: { path: { orgId } },
            body: { name: 'Renamed' },
          }),
        'member.added': () => addActor(ctx, org, 'viewer'),
        'member.role_changed': () =>
          o.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
            params: { path: { orgId, userId: member.userId } },
            body: { roleId: 'viewer' },
          }),
        'member.status_changed': () =>
          o.PATCH('/v1/organizations/{orgId}/members/{userId}', {
            params: { path: { orgId, userId: member.userId } },
            body: { status: 'suspended' },
          }),
        'role.created': async () => {
          const { data } = await o.POST('/v1/organizations/{orgId}/roles', {
            params: { path: { orgId } },
            body: { name: 'Support', permissions: ['members:read'] },
          });
          roleId = data!.id;
        },
        'role.updated': () =>
          o.PATCH('/v1/organizations/{orgId}/roles/{roleId}', {
            params: { path: { orgId, roleId } },
            body: { description: 'Answers tickets.' },
          }),
        'team.created': async () => {
          const { data } = await o.POST('/v1/organizations/{orgId}/teams', {
            params: { path: { orgId } },
            body: { name: 'Platform' },
          });
          teamId = data!.id;
        },
        'team.updated': () =>
          o.PATCH('/v1/organizations/{orgId}/teams/{teamId}', {
            params: { path: { orgId, teamId } },
            body: { name: 'Platform engineering' },
          }),
        'team_member.added': () =>
          o.PUT('/v1/organizations/{orgId}/teams/{teamId}/members/{userId}', {
            params: { path: { orgId, teamId, userId: heir.userId } },
            body: { role: 'member' },
          }),
        'team_member.role_changed': () =>
          o.PUT('/v1/organizations/{orgId}/teams/{teamId}/members/{userId}', {
            params: { path: { orgId, teamId, userId: heir.userId } },
            body: { role: 'lead' },
          }),
        'team_member.removed': () =>
          o.DELETE('/v1/organizations/{orgId}/teams/{teamId}/members/{userId}', {
            params: { path: { orgId, teamId, userId: heir.userId } },
          }),
        'team.deleted': () =>
          o.DELETE('/v1/organizations/{orgId}/teams/{teamId}', {
            params: { path: { orgId, teamId } },
          }),
        'api_key.created': async () => {
          const { data } = await ctx.platform.POST(
            '/v1/organizations/{orgId}/members/{userId}/api-keys',
            { params: { path: { orgId, userId: heir.userId } }, body: { name: 'ci' } },
          );
          keyId = data!.id;
        },
        'api_key.revoked': () =>
          ctx.platform.DELETE('/v1/organizations/{orgId}/members/{userId}/api-keys/{keyId}', {
            params: { path: { orgId, userId: heir.userId, keyId } },
          }),
        'invitation.created': async () => {
          const { data } = await o.POST('/v1/organizations/{orgId}/invitations', {
            params: { path: { orgId } },
            body: { email: 'hooked@example.test', roleId: 'viewer' },
          });
          invitation = { id: data!.id, token: data!.token };
        },
        'invitation.resent': async () => {
          const { data } = await o.POST(
            '/v1/organizations/{orgId}/invitations/{invitationId}/resend',
            { params: { path: { orgId, invitationId: invitation.id } } },
          );
          invitation.token = data!.token;
        },
        'invitation.accepted': () =>
          ctx.platform.POST('/v1/invitations/accept', {
            body: { token: invitation.token, userId: 'usr_hooked', email: 'hooked@example.test' },
          }),
        'invitation.declined': async () => {
          const { data } = await o.POST('/v1/organizations/{orgId}/invitations', {
            params: { path: { orgId } },
            body: { email: 'declines@example.test' },
          });
          return ctx.platform.POST('/v1/invitations/decline', { body: { token: data!.token } });
        },
        'invitation.revoked': async () => {
          const { data } = await o.POST('/v1/organizations/{orgId}/invitations', {
            params: { path: { orgId } },
            body: { email: 'revoked@example.test' },
          });
          return o.DELETE('/v1/organizations/{orgId}/invitations/{invitationId}', {
            params: { path: { orgId, invitationId: data!.id } },
          });
        },
        'role.deleted': async () => {
          // A role still held: deleting it with reassignTo moves its member too.
          await o.PATCH('/v1/organizations/{orgId}/members/{userId}', {
            params: { path: { orgId, userId: member.userId } },
            body: { status: 'active', roleId },
          });
          return o.DELETE('/v1/organizations/{orgId}/roles/{roleId}', {
            params: { path: { orgId, roleId }, query: { reassignTo: 'member' } },
          });
        },
        'member.removed': () =>
          o.DELETE('/v1/organizations/{orgId}/members/{userId}', {
            params: { path: { orgId, userId: member.userId } },
          }),
        'ownership.transferred': async () => {
          await o.POST('/v1/organizations/{orgId}/ownership-transfer', {
            params: { path: { orgId } },
            body: { userId: heir.userId },
          });
          newOwner = heir;
        },
        'webhook_endpoint.created': () =>
          createEndpoint(newOwner, org, receiver.url, ['team.created']),
        'webhook_endpoint.updated': () =>
          newOwner.client.PATCH('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
            params: { path: { orgId, endpointId: other.endpoint.id } },
            body: { events: ['member.added', 'member.removed'] },
          }),
        'webhook_endpoint.secret_rotated': () =>
          newOwner.client.POST(
            '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/rotate-secret',
            { params: { path: { orgId, endpointId: other.endpoint.id } } },
          ),
        'webhook_endpoint.deleted': () =>
          newOwner.client.DELETE('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
            params: { path: { orgId, endpointId: other.endpoint.id } },
          }),
      };
      for (const [action, run] of Object.entries(scenario)) {
        const answer = (await run()) as { response?: Response; error?: unknown } | undefined;
        if (answer?.response && !answer.response.ok) {
          throw new Error(`${action}: ${answer.response.status} ${JSON.stringify(answer.error)}`);
        }
      }

      // Every event of the trail after the endpoint's creation, delivered exactly once each.
      // (Ids are ULIDs from one source: the events after the endpoint's, its own creation included.)
      const expected = (await auditTrail(org)).filter(
        (e) => e.id > endpoint.id.replace('whe_', 'evt_'),
      );
      const log = await eventually(
        () => deliveries(org, endpoint.id),
        (list) => list.length === expected.length && list.every((d) => d.status === 'succeeded'),
        20_000,
      );
      const arrived = local.received.map(
        (r) => JSON.parse(r.body) as { type: string; data: AuditEvent },
      );
      // Receivers drop duplicates by webhook-id: once deduplicated, exactly the trail's events.
      const bodies = [...new Map(arrived.map((b) => [b.data.id, b])).values()];
      expect(bodies.map((b) => b.data.id).sort()).toEqual(expected.map((e) => e.id).sort());
      for (const body of bodies) expect(body.type).toBe(body.data.action);
      // An event arrives more than once only when an attempt failed (a receiver slower than the
      // timeout on a loaded machine): never more often than the attempts the log records.
      const attempts = new Map(log.map((d) => [d.id, d.attemptCount]));
      for (const id of new Set(arrived.map((b) => b.data.id))) {
        const times = arrived.filter((b) => b.data.id === id).length;
        expect([id, times <= attempts.get(id)!]).toEqual([id, true]);
      }

      // Every action of the catalogue but organization.created was heard.
      const heard = new Set(bodies.map((b) => b.type));
      expect([...heard].sort()).toEqual(Object.keys(scenario).sort());

      // Both halves of the transfer: the new owner's and the former owner's.
      const transfer = bodies.filter((b) => b.type === 'ownership.transferred');
      expect(
        transfer.map((b) => [b.data.targetUserId, b.data.before?.roleId, b.data.after?.roleId]),
      ).toEqual(
        expect.arrayContaining([
          [heir.userId, 'admin', 'owner'],
          [org.owner.userId, 'owner', 'admin'],
        ]),
      );
      expect(transfer).toHaveLength(2);
    } finally {
      await local.stop();
    }
  });
});

describe('failures and retries, driven by the receiver', () => {
  async function scenario(respond: Parameters<Receiver['respondWith']>[0]) {
    const local = await startReceiver(respond);
    const org = await createOrg(ctx);
    const { endpoint, secret } = await createEndpoint(org.owner, org, local.url, ['member.added']);
    await addActor(ctx, org, 'member');
    return { local, org, endpoint, secret };
  }

  test('a 500 is retried on the schedule with the same webhook-id until a 2xx; each attempt is recorded', async () => {
    const { local, org, endpoint } = await scenario((_r, res, index) => {
      res.statusCode = index < 2 ? 500 : 200;
      res.end(index < 2 ? 'database on fire' : 'ok');
    });
    try {
      const requests = await local.waitFor(3);
      expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
      // Retries came after the schedule's 0.2 s, not at once.
      expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(150);
      const [delivery] = await eventually(
        () => deliveries(org, endpoint.id),
        (list) => list[0]?.status === 'succeeded',
      );
      expect(delivery!.attemptCount).toBe(3);
      expect(delivery!.attempts.map((a) => [a.outcome, a.responseStatus, a.responseBody])).toEqual([
        ['failed', 500, 'database on fire'],
        ['failed', 500, 'database on fire'],
        ['succeeded', 200, 'ok'],
      ]);
    } finally {
      await local.stop();
    }
  });

  test('a receiver that does not answer in time is a timeout, tried again', async () => {
    const { local, org, endpoint } = await scenario((_r, res, index) => {
      if (index === 0) return; // never answers (the timeout is 2 s here)
      res.statusCode = 204;
      res.end();
    });
    try {
      const requests = await local.waitFor(2);
      expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(2000);
      const [delivery] = await eventually(
        () => deliveries(org, endpoint.id),
        (list) => list[0]?.status === 'succeeded',
      );
      expect(delivery!.attempts.map((a) => [a.outcome, a.responseStatus])).toEqual([
        ['timeout', null],
        ['succeeded', 204],
      ]);
    } finally {
      await local.stop();
    }
  });

  test('429 with Retry-After: the next attempt waits as long as the receiver asked, not the schedule', async () => {
    const { local } = await scenario((_r, res, index) => {
      if (index === 0) {
        res.statusCode = 429;
        res.setHeader('Retry-After', '2');
      } else res.statusCode = 204;
      res.end();
    });
    try {
      const requests = await local.waitFor(2);
      expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(1900);
    } finally {
      await local.stop();
    }
  });

  test('410 Gone disables the endpoint at once, with the reason; it hears nothing until it is enabled again', async () => {
    const { local, org, endpoint } = await scenario((_r, res, index) => {
      res.statusCode = index === 0 ? 410 : 204;
      res.end();
    });
    try {
      await local.waitFor(1);
      const path = '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}' as const;
      const params = { path: { orgId: org.orgId, endpointId: endpoint.id } };
      const disabled = await eventually(
        async () => (await org.owner.client.GET(path, { params })).data!,
        (e) => e.status === 'disabled',
      );
      expect(disabled.disabledReason).toBe('The receiver answered 410 Gone.');
      const [gone] = await deliveries(org, endpoint.id);
      expect(gone).toMatchObject({ status: 'failed', attemptCount: 1 });

      // A disabled endpoint is not sent the events that happen meanwhile (listEvents has them);
      // enabled again, it hears the next ones.
      await addActor(ctx, org, 'member');
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(local.received).toHaveLength(1);
      const enabled = await org.owner.client.PATCH(path, { params, body: { status: 'enabled' } });
      expect(enabled.data).toMatchObject({ status: 'enabled', disabledReason: null });
      const { userId } = await addActor(ctx, org, 'member');
      const [, next] = await local.waitFor(2);
      expect(JSON.parse(next!.body).data.targetUserId).toBe(userId);
    } finally {
      await local.stop();
    }
  });

  test('when the schedule is spent the delivery has failed; retryWebhookDelivery sends it again with the same webhook-id', async () => {
    let answer = 503;
    const { local, org, endpoint } = await scenario((_r, res) => {
      res.statusCode = answer;
      res.end();
    });
    try {
      // The first attempt and three retries.
      await local.waitFor(4);
      const [failed] = await eventually(
        () => deliveries(org, endpoint.id),
        (list) => list[0]?.status === 'failed',
      );
      expect(failed!.attemptCount).toBe(4);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(local.received).toHaveLength(4);

      answer = 204;
      const retried = await org.owner.client.POST(
        '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/retry',
        { params: { path: { orgId: org.orgId, endpointId: endpoint.id, deliveryId: failed!.id } } },
      );
      expect(retried.response.status).toBe(202);
      expect(retried.data!.status).toBe('pending');
      const [again] = await local.waitFor(5).then((all) => all.slice(4));
      expect(again!.headers['webhook-id']).toBe(failed!.id);
      await eventually(
        () => deliveries(org, endpoint.id),
        (list) => list[0]?.status === 'succeeded' && list[0].attemptCount === 5,
      );
    } finally {
      await local.stop();
    }
  });
});

describe('endpoint management', () => {
  test('rotateWebhookSecret: for 24 hours both secrets sign every delivery', async () => {
    const local = await startReceiver();
    try {
      const org = await createOrg(ctx);
      const { endpoint, secret: first } = await createEndpoint(org.owner, org, local.url, [
        'member.added',
      ]);
      const rotated = await org.owner.client.POST(
        '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/rotate-secret',
        { params: { path: { orgId: org.orgId, endpointId: endpoint.id } } },
      );
      expect(rotated.response.status).toBe(200);
      const second = rotated.data!.secret;
      expect(second).not.toBe(first);
      const expires = Date.parse(rotated.data!.previousSecretExpiresAt!);
      expect(expires - Date.now()).toBeGreaterThan(23.9 * 3600 * 1000);

      await addActor(ctx, org, 'member');
      const [request] = await local.waitFor(1);
      const signatures = String(request!.headers['webhook-signature']).split(' ');
      expect(signatures).toHaveLength(2);
      expect(signatures).toEqual(
        expect.arrayContaining([
          expectedSignature(first, request!),
          expectedSignature(second, request!),
        ]),
      );
      for (const secret of [first, second]) {
        expect(() => new Webhook(secret).verify(request!.body, headersOf(request!))).not.toThrow();
      }
    } finally {
      await local.stop();
    }
  });

  test('sendTestWebhook queues a signed webhook.test event, whatever the endpoint subscribed to', async () => {
    const local = await startReceiver();
    try {
      const org = await createOrg(ctx);
      const { endpoint, secret } = await createEndpoint(org.owner, org, local.url, [
        'team.deleted',
      ]);
      const queued = await org.owner.client.POST(
        '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/test',
        { params: { path: { orgId: org.orgId, endpointId: endpoint.id } } },
      );
      expect(queued.response.status).toBe(202);
      expect(queued.data).toMatchObject({ eventType: 'webhook.test', status: 'pending' });
      const [request] = await local.waitFor(1);
      const body = new Webhook(secret).verify(request!.body, headersOf(request!));
      expect(body).toMatchObject({
        type: 'webhook.test',
        data: { organizationId: org.orgId, endpointId: endpoint.id },
      });
      expect(request!.headers['webhook-id']).toBe(queued.data!.id);
    } finally {
      await local.stop();
    }
  });

  test('webhooks:manage: the owner and admins manage endpoints; a member may not even list them', async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const member = await addActor(ctx, org, 'member');
    const created = await createEndpoint(admin, org, receiver.url, ['member.added']);
    expect(created.endpoint.organizationId).toBe(org.orgId);
    for (const denied of [
      await member.client.GET(endpointsPath, { params: { path: { orgId: org.orgId } } }),
      await member.client.POST(endpointsPath, {
        params: { path: { orgId: org.orgId } },
        body: { url: receiver.url, events: ['*'] },
      }),
    ]) {
      expect(denied.response.status).toBe(403);
      expect(denied.error).toMatchObject({ code: 'INSUFFICIENT_PERMISSION' });
    }
    const list = await org.owner.client.GET(endpointsPath, {
      params: { path: { orgId: org.orgId } },
    });
    expect(list.data!.data.map((e) => e.id)).toEqual([created.endpoint.id]);
    // The secret is never shown again.
    expect(JSON.stringify(list.data)).not.toContain('whsec_');
    // Another organization's owner sees nothing of it (tenancy: 404).
    const stranger = await createOrg(ctx);
    const foreign = await stranger.owner.client.GET(
      '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}',
      { params: { path: { orgId: org.orgId, endpointId: created.endpoint.id } } },
    );
    expect(foreign.response.status).toBe(404);
  });

  test('deleting an endpoint stops its deliveries and answers 404 afterwards; If-Match is honoured', async () => {
    const org = await createOrg(ctx);
    const { endpoint } = await createEndpoint(org.owner, org, receiver.url, ['member.added']);
    const path = '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}' as const;
    const params = { path: { orgId: org.orgId, endpointId: endpoint.id } };
    const stale = await org.owner.client.DELETE(path, {
      params: { ...params, header: { 'If-Match': '"9"' } },
    });
    expect(stale.response.status).toBe(412);
    const deleted = await org.owner.client.DELETE(path, {
      params: { ...params, header: { 'If-Match': '"1"' } },
    });
    expect(deleted.response.status).toBe(204);
    expect((await org.owner.client.GET(path, { params })).response.status).toBe(404);
  });

  test('the metrics count deliveries by outcome and show the queue depth', async () => {
    const res = await fetch(`${ctx.url}/metrics`, {
      headers: { Authorization: `Bearer ${PLATFORM_KEY}` },
    });
    const { samples, types } = parseExposition(await res.text());
    expect(types.get('member_roles_webhook_deliveries_total')).toBe('counter');
    expect(types.get('member_roles_webhook_queue_depth')).toBe('gauge');
    const count = (outcome: string) =>
      samples.find(
        (s) => s.name === 'member_roles_webhook_deliveries_total' && s.labels.outcome === outcome,
      )?.value ?? 0;
    // The tests above succeeded, retried and gave up.
    expect(count('succeeded')).toBeGreaterThan(0);
    expect(count('retrying')).toBeGreaterThan(0);
    expect(count('failed')).toBeGreaterThan(0);
    expect(
      samples.find((s) => s.name === 'member_roles_webhook_queue_depth')?.value,
    ).toBeGreaterThanOrEqual(0);
  });
});

describe('no server-side request forgery', () => {
  let guarded: TestContext;
  /** Names resolve as this table says; `rebinding.example` is public once, then loopback. */
  const lookups = new Map<string, number>();
  beforeAll(async () => {
    guarded = await startTestService({
      webhookDelivery: true,
      webhookAllowPrivate: false,
      webhookRetrySchedule: [],
      webhookResolver: (host) => {
        const seen = (lookups.get(host) ?? 0) + 1;
        lookups.set(host, seen);
        const table: Record<string, string> = {
          'public.example': '203.0.113.10',
          'loopback.example': '127.0.0.1',
          'metadata.example': '169.254.169.254',
          'private.example': '10.1.2.3',
          'mapped.example': '::ffff:127.0.0.1',
          'rebinding.example': seen === 1 ? '203.0.113.11' : '127.0.0.1',
        };
        const address = table[host];
        if (address === undefined) return Promise.reject(new Error('ENOTFOUND'));
        return Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
      },
    });
  });
  afterAll(async () => {
    await guarded.stop();
  });

  test('only https:// URLs that resolve to public addresses are accepted', async () => {
    const org = await createOrg(guarded);
    const attempt = (url: string) =>
      org.owner.client.POST(endpointsPath, {
        params: { path: { orgId: org.orgId } },
        body: { url, events: ['*'] },
      });
    for (const url of [
      'http://public.example/hook',
      'https://loopback.example/hook',
      'https://metadata.example/latest/meta-data',
      'https://private.example/hook',
      'https://mapped.example/hook',
      'https://127.0.0.1/hook',
      'https://[::1]/hook',
      'https://169.254.169.254/hook',
      'https://unknown.example/hook',
    ]) {
      const { response, error } = await attempt(url);
      expect([url, response.status]).toEqual([url, 400]);
      expect(error).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [expect.objectContaining({ location: 'body', path: 'url' })],
      });
    }
    const { endpoint } = await createEndpoint(org.owner, org, 'https://public.example/hook', [
      'team.created',
    ]);
    expect(endpoint.url).toBe('https://public.example/hook');
  });

  test('the URL is checked again at delivery: a name that now resolves to 127.0.0.1 is refused, and nothing is sent', async () => {
    const org = await createOrg(guarded);
    const local = await startReceiver();
    try {
      const port = new URL(local.url).port;
      const { endpoint } = await createEndpoint(
        org.owner,
        org,
        `https://rebinding.example:${port}/hook`,
        ['member.added'],
      );
      await addActor(guarded, org, 'member');
      const [delivery] = await eventually(
        async () =>
          (
            await org.owner.client.GET(
              '/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries',
              { params: { path: { orgId: org.orgId, endpointId: endpoint.id } } },
            )
          ).data!.data,
        (list) => list[0]?.status === 'failed',
      );
      expect(delivery!.attempts).toEqual([
        expect.objectContaining({
          outcome: 'refused',
          responseStatus: null,
          responseBody: expect.stringContaining('127.0.0.1'),
        }),
      ]);
      expect(local.received).toHaveLength(0);
    } finally {
      await local.stop();
    }
  });
});
