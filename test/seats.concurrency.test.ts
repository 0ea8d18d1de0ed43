import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

// PGlite is one session: parallel requests there are serialized and never contend for a lock, so
// only PostgreSQL can show a race; on PGlite the answers are still checked.
const engine = onPostgres ? 'PostgreSQL, real lock contention' : 'PGlite, serialized';

async function seats(org: TestOrg) {
  const { data } = await org.owner.client.GET('/v1/organizations/{orgId}', {
    params: { path: { orgId: org.orgId } },
  });
  return data!;
}

/** An organization of `members` members (the owner included) and the given seats. */
async function organization(members: number, maxMembers: number | null) {
  const org = await createOrg(ctx);
  await org.owner.client.POST('/v1/organizations/{orgId}/members/batch', {
    params: { path: { orgId: org.orgId } },
    body: {
      operations: Array.from({ length: members - 1 }, (_, i) => ({
        op: 'add' as const,
        userId: `usr_seat_${i}`,
        email: `seat${i}@example.test`,
      })),
    },
  });
  await org.owner.client.PATCH('/v1/organizations/{orgId}', {
    params: { path: { orgId: org.orgId } },
    body: { maxMembers },
  });
  return org;
}

describe(`seats under concurrent requests (${engine})`, () => {
  test('maxMembers 10 with 9 members: 20 parallel createInvitation and addMember take exactly the one seat left', async () => {
    const org = await organization(9, 10);
    const calls = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
            params: { path: { orgId: org.orgId } },
            body: { email: `race${i}@example.test` },
          })
        : org.owner.client.POST('/v1/organizations/{orgId}/members', {
            params: { path: { orgId: org.orgId } },
            body: { userId: `usr_race_${i}`, email: `race${i}@example.test` },
          }),
    );
    const answers = await Promise.all(calls);
    const statuses = answers.map((a) => a.response.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(
      answers.every((a) => a.response.status === 201 || a.error?.code === 'SEAT_LIMIT_REACHED'),
    ).toBe(true);
    const org10 = await seats(org);
    expect(org10.memberCount + org10.pendingInvitationCount).toBe(10);
  });

  test('maxMembers 10 with 9 members and one pending invitation: its acceptance races 19 createInvitation and addMember, and 10 seats stay used, never 11', async () => {
    const org = await organization(9, null);
    const invited = await org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: org.orgId } },
      body: { email: 'pending@example.test' },
    });
    await org.owner.client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.orgId } },
      body: { maxMembers: 10 },
    });
    // Meanwhile a member leaves, so one seat is briefly free for whoever gets there first.
    const calls = [
      ctx.platform.POST('/v1/invitations/accept', {
        body: {
          token: invited.data!.token,
          userId: 'usr_accepting',
          email: 'pending@example.test',
        },
      }),
      org.owner.client.DELETE('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: 'usr_seat_0' } },
      }),
      ...Array.from({ length: 18 }, (_, i) =>
        i % 2 === 0
          ? org.owner.client.POST('/v1/organizations/{orgId}/invitations', {
              params: { path: { orgId: org.orgId } },
              body: { email: `late${i}@example.test` },
            })
          : org.owner.client.POST('/v1/organizations/{orgId}/members', {
              params: { path: { orgId: org.orgId } },
              body: { userId: `usr_late_${i}`, email: `late${i}@example.test` },
            }),
      ),
    ];
    const answers = await Promise.all(calls);
    expect(answers[0]!.response.status).toBe(200);
    expect(answers[1]!.response.status).toBe(204);
    const taken = answers.slice(2).filter((a) => a.response.status === 201).length;
    expect(taken).toBeLessThanOrEqual(1);
    expect(
      answers
        .slice(2)
        .every((a) => a.response.status === 201 || a.error?.code === 'SEAT_LIMIT_REACHED'),
    ).toBe(true);
    const after = await seats(org);
    expect(after.memberCount + after.pendingInvitationCount).toBe(9 + taken);
    expect(after.memberCount + after.pendingInvitationCount).toBeLessThanOrEqual(10);
  });
});
