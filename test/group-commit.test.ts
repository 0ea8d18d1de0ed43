// Group commit (server/domain/access.ts, `unitOfWork`): changes of one organization that arrive in
// one process while one of them is in flight ride its transaction, after it, and commit with it.
// Each must still get exactly its own answer, and a change that fails must take nothing of the
// others with it. The changes here are units of work of the domain itself (the way every write
// of the API runs), writing into a table of the test's own, so that each case is exact.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import { inOrganization } from '../server/domain/access.js';
import type { DomainDeps, RequestContext } from '../server/domain/context.js';
import { AppError } from '../server/errors.js';
import { systemClock, ulidIds } from '../server/ids.js';
import { hashSecret } from '../server/infra/secrets.js';
import type { Trx } from '../server/storage/database.js';
import { startTestService, type TestContext } from './support/context.js';
import { createOrg } from './support/scenario.js';

let ctx: TestContext;
let deps: DomainDeps;
beforeAll(async () => {
  ctx = await startTestService();
  deps = { db: ctx.service.database.db, clock: systemClock, ids: ulidIds() };
  await sql`create table group_probe (id text primary key, tx bigint not null)`.execute(deps.db);
});
afterAll(async () => {
  await ctx.stop();
});

const refusal = () => new AppError('VALIDATION_FAILED', 'refused by the test');

/** Writes one row (named `id`) and answers the transaction it ran in. */
const write = async (trx: Trx, id: string) => {
  const { rows } = await sql<{ tx: string }>`
    insert into group_probe (id, tx) values (${id}, txid_current()) returning tx`.execute(trx);
  return Number(rows[0]!.tx);
};

/** Sends the changes in one go (the first is in flight when the others arrive). */
async function together(orgId: string, key: string, works: ((trx: Trx) => Promise<number>)[]) {
  const request: RequestContext = {
    credential: { kind: 'key', secretHash: hashSecret(key) },
    requestId: 'group-commit-test',
  };
  return Promise.allSettled(works.map((work) => inOrganization(deps, request, orgId, work)));
}

async function stored(prefix: string) {
  const { rows } = await sql<{ id: string }>`
    select id from group_probe where id like ${`${prefix}%`} order by id`.execute(deps.db);
  return rows.map((row) => row.id);
}

const reason = (outcome: PromiseSettledResult<number>) =>
  outcome.status === 'rejected' ? (outcome.reason as { code?: string }) : undefined;

describe('changes of one organization sent together', () => {
  test('ride one transaction, and those refused before they wrote get their refusal and leave no trace', async () => {
    const org = await createOrg(ctx);
    const outcomes = await together(
      org.orgId,
      org.owner.key,
      Array.from({ length: 12 }, (_, i) => async (trx: Trx) => {
        if (i === 3 || i === 8) throw refusal();
        return write(trx, `a${String(i).padStart(2, '0')}`);
      }),
    );
    expect(outcomes.map((o) => o.status)).toEqual(
      Array.from({ length: 12 }, (_, i) => (i === 3 || i === 8 ? 'rejected' : 'fulfilled')),
    );
    expect(reason(outcomes[3]!)?.code).toBe('VALIDATION_FAILED');
    const transactions = new Set(
      outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : [])),
    );
    expect(transactions.size).toBe(1);
    expect(await stored('a')).toEqual(
      ['00', '01', '02', '04', '05', '06', '07', '09', '10', '11'].map((n) => `a${n}`),
    );
  });

  test('one refused after it wrote keeps none of its writes, and the others are carried out', async () => {
    const org = await createOrg(ctx);
    const outcomes = await together(
      org.orgId,
      org.owner.key,
      Array.from({ length: 6 }, (_, i) => async (trx: Trx) => {
        const tx = await write(trx, `b${i}`);
        if (i === 2) throw refusal();
        return tx;
      }),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(reason(outcomes[2]!)?.code).toBe('VALIDATION_FAILED');
    expect(await stored('b')).toEqual(['b0', 'b1', 'b3', 'b4', 'b5']);
  });

  test('one whose statement fails gets the database error, and the others are carried out', async () => {
    const org = await createOrg(ctx);
    // The third and the fifth write the same row: whichever runs second fails (unique violation).
    const ids = ['c0', 'c1', 'cdup', 'c3', 'cdup', 'c5'];
    const outcomes = await together(
      org.orgId,
      org.owner.key,
      ids.map((id) => (trx: Trx) => write(trx, id)),
    );
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
    expect(failed).toHaveLength(1);
    expect([2, 4]).toContain(failed[0]);
    expect(reason(outcomes[failed[0]!]!)?.code).toBe('23505');
    expect(await stored('c')).toEqual(['c0', 'c1', 'c3', 'c5', 'cdup']);
  });

  test('a caller who may not act in the organization is refused alone', async () => {
    const org = await createOrg(ctx);
    const stranger = await createOrg(ctx);
    const request = (key: string): RequestContext => ({
      credential: { kind: 'key', secretHash: hashSecret(key) },
      requestId: 'group-commit-test',
    });
    const outcomes = await Promise.allSettled([
      inOrganization(deps, request(org.owner.key), org.orgId, (trx) => write(trx, 'd0')),
      inOrganization(deps, request(stranger.owner.key), org.orgId, (trx) => write(trx, 'd1')),
      inOrganization(deps, request(org.owner.key), org.orgId, (trx) => write(trx, 'd2')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(reason(outcomes[1])?.code).toBe('NOT_FOUND');
    expect(await stored('d')).toEqual(['d0', 'd2']);
  });
});
