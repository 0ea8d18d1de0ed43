import { idempotencyScope } from '../server/infra/idempotency.js';
import { hashSecret } from '../server/infra/secrets.js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import { readConfig } from '../server/config.js';
import { startService } from '../server/service.js';
import { PLATFORM_KEY, onPostgres, startTestService, type TestContext } from './support/context.js';
import { addActor, auditActions, createOrg, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
let org: TestOrg;
beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx);
});
afterAll(async () => {
  await ctx.stop();
});

function addMember(
  key: string,
  idempotencyKey: string,
  userId: string,
  apiKey = org.owner.key,
  url = ctx.url,
) {
  return fetch(`${url}/v1/organizations/${org.orgId}/members`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${apiKey}`,
      'content-type': 'application/json',
      'Idempotency-Key': idempotencyKey,
    },
    body: JSON.stringify({ userId, email: `${userId}@example.test` }),
  }).then(async (res) => ({
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    etag: res.headers.get('etag'),
  }));
}

describe('Idempotency-Key on POST', () => {
  test('a retry with the same key and body returns the first status and body, and changes nothing more', async () => {
    const first = await addMember(org.owner.key, 'add-once-1', 'usr_once');
    const eventsAfterFirst = await auditActions(org);
    const retry = await addMember(org.owner.key, 'add-once-1', 'usr_once');
    expect(first.status).toBe(201);
    expect(retry).toEqual(first);
    expect(await auditActions(org)).toEqual(eventsAfterFirst);
  });

  test('a replayed key-creating POST returns the same secret, yet the database never holds it in clear', async () => {
    const target = await addActor(ctx, org, 'member');
    const mint = () =>
      fetch(`${ctx.url}/v1/organizations/${org.orgId}/members/${target.userId}/api-keys`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${PLATFORM_KEY}`,
          'content-type': 'application/json',
          'Idempotency-Key': 'mint-sealed',
        },
        body: JSON.stringify({ name: 'sealed' }),
      }).then(async (res) => ({
        status: res.status,
        body: (await res.json()) as { secret: string },
      }));
    const first = await mint();
    const retry = await mint();
    expect(first.status).toBe(201);
    expect(retry).toEqual(first);
    const rows = await ctx.service.database.db.selectFrom('idempotency_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(first.body.secret);
  });

  test('a retry spelling the same user id with other escapes is the same request', async () => {
    const userId = 'auth0|escapes';
    await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId, email: 'escapes@example.test' },
    });
    const send = (spelling: string) =>
      fetch(`${ctx.url}/v1/organizations/${org.orgId}/members/${spelling}/api-keys`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${PLATFORM_KEY}`,
          'content-type': 'application/json',
          'Idempotency-Key': 'escapes',
        },
        body: JSON.stringify({ name: 'escapes' }),
      }).then(async (res) => ({ status: res.status, body: await res.json() }));
    const first = await send('auth0%7Cescapes');
    const retry = await send('auth0%7cescapes');
    expect(first.status).toBe(201);
    expect(retry).toEqual(first);
  });

  test('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    await addMember(org.owner.key, 'add-once-2', 'usr_first');
    const before = await auditActions(org);
    const other = await addMember(org.owner.key, 'add-once-2', 'usr_second');
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const missing = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: 'usr_second' } },
    });
    expect(missing.response.status).toBe(404);
    expect(await auditActions(org)).toEqual(before);
  });

  test('a refusal is remembered too: the retry gets the same 409', async () => {
    const first = await addMember(org.owner.key, 'add-existing', org.owner.userId);
    const retry = await addMember(org.owner.key, 'add-existing', org.owner.userId);
    expect(first.status).toBe(409);
    expect(retry.status).toBe(409);
    expect(retry.body).toEqual(first.body);
  });

  test('keys are scoped per API key: another key may use the same value for its own request', async () => {
    const admin = await addActor(ctx, org, 'admin');
    const mine = await addMember(org.owner.key, 'shared-value', 'usr_scope_a');
    const theirs = await addMember(admin.key, 'shared-value', 'usr_scope_b', admin.key);
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    expect(theirs.body.userId).toBe('usr_scope_b');
  });

  test('keys are kept 24 hours: an older one no longer replays', async () => {
    const first = await addMember(org.owner.key, 'old-key', 'usr_old');
    expect(first.status).toBe(201);
    await sql`update idempotency_keys set created_at = created_at - interval '25 hours' where key = 'old-key'`.execute(
      ctx.service.database.db,
    );
    const later = await addMember(org.owner.key, 'old-key', 'usr_old');
    expect(later.status).toBe(409);
    expect(later.body.code).toBe('MEMBER_EXISTS');
  });

  test('a change that committed but whose answer was lost is never run again: the retry at once is 409 saying it was carried out', async () => {
    const first = await addMember(org.owner.key, 'lost-answer', 'usr_lost');
    expect(first.status).toBe(201);
    await sql`update idempotency_keys set state = 'committed', body = null where key = 'lost-answer'`.execute(
      ctx.service.database.db,
    );
    const retry = await addMember(org.owner.key, 'lost-answer', 'usr_lost');
    expect(retry.status).toBe(409);
    expect(retry.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    expect(String(retry.body.detail)).toMatch(/carried out/);
  });

  test('a claim abandoned before anything committed is taken over after 5 minutes', async () => {
    await sql`insert into idempotency_keys (scope, key, fingerprint, state, created_at) values (${'unused'}, 'abandoned', 'x', 'in_progress', now())`.execute(
      ctx.service.database.db,
    );
    const scope = idempotencyScope({ kind: 'key', secretHash: hashSecret(org.owner.key) });
    await sql`update idempotency_keys set scope = ${scope}, created_at = now() - interval '10 minutes' where key = 'abandoned'`.execute(
      ctx.service.database.db,
    );
    const taken = await addMember(org.owner.key, 'abandoned', 'usr_abandoned');
    expect(taken.status).toBe(201);
    const state = await ctx.service.database.db
      .selectFrom('idempotency_keys')
      .select('state')
      .where('key', '=', 'abandoned')
      .executeTakeFirstOrThrow();
    expect(state.state).toBe('done');
  });

  test('parallel requests with one key create one resource: the others replay it or are told it is in progress', async () => {
    const target = await addActor(ctx, org, 'member');
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${ctx.url}/v1/organizations/${org.orgId}/members/${target.userId}/api-keys`, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${PLATFORM_KEY}`,
            'content-type': 'application/json',
            'Idempotency-Key': 'mint-once',
          },
          body: JSON.stringify({ name: 'deploy' }),
        }).then(async (res) => ({
          status: res.status,
          body: (await res.json()) as Record<string, unknown>,
        })),
      ),
    );
    const created = results.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    for (const r of results.filter((r) => r.status !== 201)) {
      expect(r.status).toBe(409);
      expect(r.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    }
    const keys = await ctx.platform.GET('/v1/organizations/{orgId}/members/{userId}/api-keys', {
      params: { path: { orgId: org.orgId, userId: target.userId } },
    });
    expect(keys.data!.data.filter((k) => k.name === 'deploy')).toHaveLength(1);
  });

  (onPostgres ? test : test.skip)(
    'a retry reaching another server process on the same database is replayed there',
    async () => {
      const second = await startService({
        ...readConfig({}),
        port: 0,
        host: '127.0.0.1',
        databaseUrl: ctx.databaseUrl,
        platformKey: PLATFORM_KEY,
        demo: false,
        rateLimitPerMinute: 0,
        logLevel: 'silent',
        production: false,
      });
      try {
        const first = await addMember(
          org.owner.key,
          'two-processes',
          'usr_two',
          org.owner.key,
          ctx.url,
        );
        const retry = await addMember(
          org.owner.key,
          'two-processes',
          'usr_two',
          org.owner.key,
          second.url,
        );
        expect(first.status).toBe(201);
        expect(retry).toEqual(first);
      } finally {
        await second.stop();
      }
    },
  );
});
