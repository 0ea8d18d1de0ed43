import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import { inOrganizationBatch, step } from '../server/domain/access.js';
import { addMemberStep } from '../server/domain/members.service.js';
import { AppError } from '../server/errors.js';
import { systemClock, ulidIds } from '../server/ids.js';
import { hashSecret } from '../server/infra/secrets.js';
import { startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

// The batch runs first without savepoints (a refusal almost always comes before its item's
// writes). These items are refused after writing, or after a statement of theirs failed: the
// batch must then run again with a savepoint per item, and the refused items leave no trace.
let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const refused = () => new AppError('VALIDATION_FAILED', 'refused on purpose, after writing');

function run(org: TestOrg, items: Parameters<typeof inOrganizationBatch>[3]) {
  const deps = { db: ctx.service.database.db, clock: systemClock, ids: ulidIds() };
  const request = {
    credential: { kind: 'key' as const, secretHash: hashSecret(org.owner.key) },
    requestId: 'batch-rollback',
  };
  return inOrganizationBatch(deps, request, org.orgId, items, false);
}

async function organizationName(org: TestOrg) {
  const { data } = await org.owner.client.GET('/v1/organizations/{orgId}', {
    params: { path: { orgId: org.orgId } },
  });
  return data!.name;
}

async function memberAddedEvents(org: TestOrg, userId: string) {
  const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
    params: { path: { orgId: org.orgId }, query: { action: 'member.added', targetUserId: userId } },
  });
  return data!.data.length;
}

describe('a batch item refused after it wrote leaves no trace', () => {
  test('its write is undone, the items around it apply once each, with one audit event each', async () => {
    const org = await createOrg(ctx);
    const before = await organizationName(org);
    const outcomes = await run(org, [
      () => addMemberStep(org.orgId, { userId: 'usr_first', email: 'first@example.test' }),
      () =>
        step(async (trx) => {
          await trx
            .updateTable('organizations')
            .set({ name: 'written by a refused item' })
            .where('id', '=', org.orgId)
            .execute();
          throw refused();
        }),
      () => addMemberStep(org.orgId, { userId: 'usr_second', email: 'second@example.test' }),
    ]);
    expect(outcomes.map((o) => o.applied)).toEqual([true, false, true]);
    expect(await organizationName(org)).toBe(before);
    expect(await memberAddedEvents(org, 'usr_first')).toBe(1);
    expect(await memberAddedEvents(org, 'usr_second')).toBe(1);
  });

  test('an item refused because a statement of its own failed, last in the batch, does not undo the others', async () => {
    const org = await createOrg(ctx);
    const outcomes = await run(org, [
      () => addMemberStep(org.orgId, { userId: 'usr_kept', email: 'kept@example.test' }),
      () =>
        step(async (trx) => {
          try {
            await sql`select 1 / 0`.execute(trx);
          } catch {
            throw refused();
          }
        }),
    ]);
    expect(outcomes.map((o) => o.applied)).toEqual([true, false]);
    expect(await memberAddedEvents(org, 'usr_kept')).toBe(1);
    const { response } = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: 'usr_kept' } },
    });
    expect(response.status).toBe(200);
  });
});
