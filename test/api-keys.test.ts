import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { hashSecret } from '../server/infra/secrets.js';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, mintKey } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx.stop();
});

const keysPath = '/v1/organizations/{orgId}/members/{userId}/api-keys' as const;

describe('API keys', () => {
  test('keys are stored only as a hash: the secret appears nowhere in the database', async () => {
    const org = await createOrg(ctx);
    const rows = await ctx.service.database.db.selectFrom('api_keys').selectAll().execute();
    const serialized = JSON.stringify(rows);
    expect(serialized).not.toContain(org.owner.key);
    expect(rows.map((r) => r.secret_hash)).toContain(hashSecret(org.owner.key));
  });

  test('both Authorization: Bearer and X-API-Key authenticate', async () => {
    const org = await createOrg(ctx);
    const viaHeader = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, {
      headers: { 'X-API-Key': org.owner.key },
    });
    expect(viaHeader.status).toBe(200);
    const viaBearer = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, {
      headers: { Authorization: `Bearer ${org.owner.key}` },
    });
    expect(viaBearer.status).toBe(200);
  });

  test('an unknown, empty or conflicting key is 401 UNAUTHENTICATED', async () => {
    const org = await createOrg(ctx);
    const attempts: Record<string, string>[] = [
      { 'X-API-Key': 'mrk_not-a-key' },
      { Authorization: 'Bearer ' },
      { Authorization: `Bearer ${org.owner.key}`, 'X-API-Key': 'mrk_other' },
      { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    }
  });

  test('a member lists and creates their own keys; the secret is shown once, the list shows only its prefix', async () => {
    const org = await createOrg(ctx);
    const created = await org.owner.client.POST(keysPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
      body: { name: 'CI' },
    });
    expect(created.response.status).toBe(201);
    const listed = await org.owner.client.GET(keysPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
    });
    expect(listed.data!.data).toHaveLength(2);
    expect(JSON.stringify(listed.data)).not.toContain(created.data!.secret);
    expect(listed.data!.data.map((k) => k.prefix)).toContain(created.data!.secret.slice(0, 8));
  });

  test("a member cannot see or mint another member's keys (403)", async () => {
    const org = await createOrg(ctx);
    const admin = await addActor(ctx, org, 'admin');
    const { error } = await admin.client.GET(keysPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
    });
    expect(error!.code).toBe('INSUFFICIENT_PERMISSION');
    const minted = await admin.client.POST(keysPath, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId } },
      body: { name: 'sneaky' },
    });
    expect(minted.error!.code).toBe('INSUFFICIENT_PERMISSION');
  });

  test('a revoked key is refused on its next request; the owner may revoke anyone’s key, others only their own', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'admin');
    const second = await mintKey(ctx, org.orgId, member.userId);
    const keys = await member.client.GET(keysPath, {
      params: { path: { orgId: org.orgId, userId: member.userId } },
    });
    const [firstKey, secondKey] = keys.data!.data;
    const byOther = await member.client.DELETE(`${keysPath}/{keyId}`, {
      params: { path: { orgId: org.orgId, userId: org.owner.userId, keyId: firstKey!.id } },
    });
    expect(byOther.response.status).toBe(403);
    const byOwner = await org.owner.client.DELETE(`${keysPath}/{keyId}`, {
      params: { path: { orgId: org.orgId, userId: member.userId, keyId: secondKey!.id } },
    });
    expect(byOwner.response.status).toBe(204);
    const refused = await second.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(refused.response.status).toBe(401);
    const still = await member.client.GET('/v1/organizations/{orgId}/me', {
      params: { path: { orgId: org.orgId } },
    });
    expect(still.response.status).toBe(200);
  });

  test('a member has at most 20 keys (409 API_KEY_LIMIT_REACHED), so nobody multiplies their rate limit', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'viewer');
    const mint = () =>
      member.client.POST(keysPath, {
        params: { path: { orgId: org.orgId, userId: member.userId } },
        body: { name: 'more' },
      });
    for (let i = 1; i < 20; i += 1) expect((await mint()).response.status).toBe(201);
    const refused = await mint();
    expect(refused.response.status).toBe(409);
    expect(refused.error!.code).toBe('API_KEY_LIMIT_REACHED');
  });
});
