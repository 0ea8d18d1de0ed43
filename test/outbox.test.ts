import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { runTransaction } from '../server/storage/transaction.js';
import { insertDeliveriesQuery } from '../server/storage/webhooks.repository.js';
import { startTestService, type TestContext } from './support/context.js';
import { createOrg } from './support/scenario.js';

// The outbox knows no action by name: whatever the audit catalogue holds (read from the contract
// at run time, so actions another change adds are covered as they come), an event of it is
// queued for every enabled endpoint subscribed to it or to `*`, and for no other.
const contract = JSON.parse(
  readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8'),
) as { components: { schemas: { AuditAction: { enum: string[] } } } };
const actions = contract.components.schemas.AuditAction.enum;

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService(); // delivery off: the queue is only looked at
});
afterAll(async () => {
  await ctx.stop();
});

describe('the transactional outbox', () => {
  test('an event of every action of the audit catalogue is queued for the endpoints subscribed to it, and only those', async () => {
    const org = await createOrg(ctx);
    const create = async (events: string[]) => {
      const { data, error } = await org.owner.client.POST(
        '/v1/organizations/{orgId}/webhook-endpoints',
        {
          params: { path: { orgId: org.orgId } },
          body: { url: 'https://hooks.example/outbox', events: events as ['*'] },
        },
      );
      if (!data) throw new Error(JSON.stringify(error));
      return data.endpoint.id;
    };
    const all = await create(['*']);
    const each = new Map<string, string>();
    for (const action of actions) each.set(action, await create([action]));
    const disabled = await create(['*']);
    await org.owner.client.PATCH('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
      params: { path: { orgId: org.orgId, endpointId: disabled } },
      body: { status: 'disabled' },
    });

    const db = ctx.service.database.db;
    const events = actions.map((action, i) => ({
      id: `evt_OUTBOX${String(i).padStart(20, '0')}`,
      action,
    }));
    await runTransaction(db, (trx) =>
      insertDeliveriesQuery(trx, org.orgId, events, new Date()).execute(),
    );
    const rows = await db
      .selectFrom('webhook_deliveries')
      .select(['endpoint_id', 'event_type', 'status'])
      .where('event_id', 'like', 'evt_OUTBOX%')
      .execute();
    const to = (endpointId: string) =>
      rows
        .filter((r) => r.endpoint_id === endpointId)
        .map((r) => r.event_type)
        .sort();
    expect(to(all)).toEqual([...actions].sort());
    for (const [action, endpointId] of each)
      expect([action, to(endpointId)]).toEqual([action, [action]]);
    expect(to(disabled)).toEqual([]);
    expect(rows.every((r) => r.status === 'pending')).toBe(true);
  });
});
