import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const eventsPath = '/v1/organizations/{orgId}/events' as const;

function listEvents(
  org: TestOrg,
  query: {
    after?: string;
    types?: ('member.added' | 'member.role_changed')[];
    limit?: number;
    wait?: number;
  },
) {
  return org.owner.client.GET(eventsPath, { params: { path: { orgId: org.orgId }, query } });
}

describe('listEvents (the event stream)', () => {
  test('the same events as the audit trail, oldest first, resumable with after', async () => {
    const org = await createOrg(ctx);
    for (const role of ['member', 'viewer', 'admin']) await addActor(ctx, org, role);
    const trail = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId: org.orgId }, query: { limit: 100 } },
    });
    const oldestFirst = [...trail.data!.data].reverse();

    const first = await listEvents(org, { limit: 2 });
    expect(first.data!.data).toEqual(oldestFirst.slice(0, 2));
    expect(first.data!.lastEventId).toBe(oldestFirst[1]!.id);
    const rest = await listEvents(org, { after: first.data!.lastEventId!, limit: 100 });
    expect(rest.data!.data).toEqual(oldestFirst.slice(2));

    // At the end: nothing, and the position stays where it was.
    const end = await listEvents(org, { after: oldestFirst.at(-1)!.id });
    expect(end.data).toEqual({ data: [], lastEventId: oldestFirst.at(-1)!.id });
    // An empty stream and no position: null.
    const empty = await createOrg(ctx);
    const none = await listEvents(empty, {
      after: oldestFirst.at(-1)!.id,
      types: ['member.role_changed'],
    });
    expect(none.data).toEqual({ data: [], lastEventId: oldestFirst.at(-1)!.id });
  });

  test('types filters the stream (repeat the parameter for several)', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    await org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
      params: { path: { orgId: org.orgId, userId: member.userId } },
      body: { roleId: 'viewer' },
    });
    const roles = await listEvents(org, { types: ['member.role_changed'] });
    expect(roles.data!.data.map((e) => e.action)).toEqual(['member.role_changed']);
    const both = await listEvents(org, { types: ['member.role_changed', 'member.added'] });
    // The owner joined (member.added) with the organization, then the member.
    expect(both.data!.data.map((e) => e.action)).toEqual([
      'member.added',
      'member.added',
      'member.role_changed',
    ]);
  });

  test('wait holds the request until a change commits, then answers at once with it', async () => {
    const org = await createOrg(ctx);
    const { data } = await listEvents(org, {});
    const position = data!.lastEventId!;
    const started = Date.now();
    const held = listEvents(org, { after: position, wait: 10 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const changedAt = Date.now();
    // One change, one event (a helper that also mints a key would race its second event with
    // the held request's read).
    const userId = 'usr_waited_for';
    await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId, email: 'waited@example.test', roleId: 'member' },
    });
    const answer = await held;
    expect(Date.now() - changedAt).toBeLessThan(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(answer.data!.data.map((e) => [e.action, e.targetUserId])).toEqual([
      ['member.added', userId],
    ]);
  });

  test('wait with nothing new answers an empty page when the time runs out', async () => {
    const org = await createOrg(ctx);
    const { data } = await listEvents(org, {});
    const started = Date.now();
    const answer = await listEvents(org, { after: data!.lastEventId!, wait: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(answer.data).toEqual({ data: [], lastEventId: data!.lastEventId });
  });

  test('wait is at most 30 seconds, and reading the stream needs audit:read', async () => {
    const org = await createOrg(ctx);
    const tooLong = await listEvents(org, { wait: 31 });
    expect(tooLong.response.status).toBe(400);
    const member = await addActor(ctx, org, 'member');
    const denied = await member.client.GET(eventsPath, { params: { path: { orgId: org.orgId } } });
    expect(denied.response.status).toBe(403);
    expect(denied.error).toMatchObject({ code: 'INSUFFICIENT_PERMISSION' });
  });
});
