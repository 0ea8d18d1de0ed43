import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KyselyPlugin } from 'kysely';
import pino from 'pino';
import { readConfig } from '../server/config.js';
import { UsageRecorder } from '../server/infra/usage.js';
import { startService } from '../server/service.js';
import { PLATFORM_KEY, onPostgres, startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestActor, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
let org: TestOrg;
let member: TestActor;
beforeAll(async () => {
  ctx = await startTestService({ rateLimitPerMinute: 5 });
  org = await createOrg(ctx);
  member = await addActor(ctx, org, 'member');
});
afterAll(async () => {
  await ctx.stop();
});

/** Windows are clock minutes: a test that counts to the limit starts well inside one. */
async function awayFromMinuteEdge() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_500 - intoMinute));
}

const me = (key: string) =>
  fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, {
    headers: { Authorization: `Bearer ${key}` },
  });

describe('rate limits per API key (RATE_LIMIT_PER_MINUTE)', () => {
  test('every answer carries RateLimit-* headers; past the limit the key gets 429 RATE_LIMITED with Retry-After', async () => {
    await awayFromMinuteEdge();
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push(await me(member.key));
    expect(answers.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.map((r) => r.headers.get('ratelimit-remaining'))).toEqual([
      '4',
      '3',
      '2',
      '1',
      '0',
      '0',
    ]);
    for (const answer of answers) {
      expect(answer.headers.get('ratelimit-limit')).toBe('5');
      expect(Number(answer.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
      expect(Number(answer.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(60);
    }
    const refused = answers[5]!;
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await refused.json()) as { code: string }).code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  test("one key's limit does not touch another key", async () => {
    const res = await me(org.owner.key);
    expect(res.status).toBe(200);
  });

  test('access questions share the key’s limit (spent above, this minute); the public AuthZEN metadata has none', async () => {
    const answer = await fetch(`${ctx.url}/access/v1/evaluation`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${member.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        subject: { type: 'user', id: member.userId },
        action: { name: 'org:read' },
        resource: { type: 'organization', id: org.orgId },
      }),
    });
    expect(answer.status).toBe(429);
    expect(((await answer.json()) as { code: string }).code).toBe('RATE_LIMITED');
    expect(answer.headers.get('ratelimit-limit')).toBe('5');
    expect(answer.headers.get('ratelimit-remaining')).toBe('0');
    for (let i = 0; i < 7; i += 1) {
      const metadata = await fetch(`${ctx.url}/.well-known/authzen-configuration`, {
        headers: { Authorization: `Bearer ${member.key}` },
      });
      expect(metadata.status).toBe(200);
      expect(metadata.headers.get('ratelimit-limit')).toBeNull();
    }
  });

  test('a refused request changes nothing', async () => {
    const admin = await addActor(ctx, org, 'admin');
    await awayFromMinuteEdge();
    for (let i = 0; i < 5; i += 1) await me(admin.key);
    const res = await fetch(
      `${ctx.url}/v1/organizations/${org.orgId}/members/${member.userId}/role`,
      {
        method: 'PUT',
        headers: { Authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ roleId: 'viewer' }),
      },
    );
    expect(res.status).toBe(429);
    const read = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    expect(read.data!.role.id).toBe('member');
  });

  (onPostgres ? test : test.skip)(
    'on PostgreSQL the limit holds across server processes: each learns the others’ counts within two seconds',
    async () => {
      const second = await startService({
        ...readConfig({}),
        port: 0,
        host: '127.0.0.1',
        databaseUrl: ctx.databaseUrl,
        platformKey: PLATFORM_KEY,
        demo: false,
        rateLimitPerMinute: 5,
        logLevel: 'silent',
        production: false,
      });
      try {
        const viewer = await addActor(ctx, org, 'viewer');
        const ask = async (url: string) =>
          (
            await fetch(`${url}/v1/organizations/${org.orgId}/me`, {
              headers: { Authorization: `Bearer ${viewer.key}` },
            })
          ).status;
        await awayFromMinuteEdge();
        const statuses: number[] = [];
        for (const url of [ctx.url, second.url, ctx.url, second.url, ctx.url]) {
          statuses.push(await ask(url));
        }
        expect(statuses).toEqual([200, 200, 200, 200, 200]);
        // Each process wrote its 3 and 2 and learned the other's: the limit of 5 is reached in both.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        expect([await ask(ctx.url), await ask(second.url)]).toEqual([429, 429]);
      } finally {
        await second.stop();
      }
    },
  );
});

describe('counting while the counts are being written', () => {
  test('a request made while this process writes its counts still counts: the remaining allowance never goes back up', async () => {
    // The database answers the count write only when the test lets it.
    let release!: () => void;
    const answered = new Promise<void>((resolve) => (release = resolve));
    let holding = false;
    const held: KyselyPlugin = {
      transformQuery: ({ node }) => node,
      transformResult: async ({ result }) => {
        if (holding) await answered;
        return result;
      },
    };
    const usage = new UsageRecorder({
      db: ctx.service.database.db.withPlugin(held),
      logger: pino({ level: 'silent' }),
      perMinute: 5,
      shared: true,
      now: () => 90 * 60_000 + 1_000,
    });
    const caller = { kind: 'key' as const, secretHash: `held-${Date.now()}` };
    expect(usage.take(caller).remaining).toBe(4);
    usage.settled(caller, 200);
    holding = true;
    const flushing = usage.flush();
    // The first request is on its way to the database; the second is counted with it.
    expect(usage.take(caller).remaining).toBe(3);
    release();
    await flushing;
    holding = false;
    expect(usage.take(caller).remaining).toBe(2);
    await usage.flush();
    expect(usage.take(caller).remaining).toBe(1);
  });
});
