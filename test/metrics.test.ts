import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { PLATFORM_KEY, onPostgres, startTestService, type TestContext } from './support/context.js';
import { parseExposition, type Sample } from './support/prometheus.js';
import { addActor, createOrg } from './support/scenario.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({ rateLimitPerMinute: 30 });
});
afterAll(async () => {
  await ctx.stop();
});

async function scrape(base = ctx.url, key: string | undefined = PLATFORM_KEY) {
  const res = await fetch(`${base}/metrics`, {
    headers: key === undefined ? {} : { Authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );

describe('getMetrics', () => {
  test('request durations are counted by operationId and status, in the Prometheus text format', async () => {
    const org = await createOrg(ctx);
    const path = `${ctx.url}/v1/organizations/${org.orgId}/members`;
    const auth = { Authorization: `Bearer ${org.owner.key}` };
    expect((await fetch(path, { headers: auth })).status).toBe(200);
    expect((await fetch(`${path}/nobody`, { headers: auth })).status).toBe(404);

    const { samples, types } = await scrape();
    expect(types.get('member_roles_http_request_duration_seconds')).toBe('histogram');
    const listed = find(samples, 'member_roles_http_request_duration_seconds_count', {
      operation: 'listMembers',
      method: 'GET',
      status: '200',
    });
    expect(listed.map((s) => s.value)).toEqual([1]);
    const missing = find(samples, 'member_roles_http_request_duration_seconds_count', {
      operation: 'getMember',
      status: '404',
    });
    expect(missing.map((s) => s.value)).toEqual([1]);
    const buckets = find(samples, 'member_roles_http_request_duration_seconds_bucket', {
      operation: 'listMembers',
      le: '+Inf',
    });
    expect(buckets.map((s) => s.value)).toEqual([1]);
    expect(find(samples, 'process_cpu_seconds_total')).toHaveLength(1);
  });

  test('rate-limit refusals are counted', async () => {
    const org = await createOrg(ctx);
    const member = await addActor(ctx, org, 'member');
    const before = find((await scrape()).samples, 'member_roles_rate_limited_total', {
      credential: 'key',
    })[0]?.value;
    const statuses = [];
    for (let i = 0; i < 35; i += 1) {
      const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/me`, {
        headers: { Authorization: `Bearer ${member.key}` },
      });
      statuses.push(res.status);
    }
    const refused = statuses.filter((s) => s === 429).length;
    expect(refused).toBeGreaterThanOrEqual(1); // a minute boundary may reset the window once
    const after = find((await scrape()).samples, 'member_roles_rate_limited_total', {
      credential: 'key',
    })[0]?.value;
    expect(after! - (before ?? 0)).toBe(refused);
  });

  (onPostgres ? test : test.skip)('on PostgreSQL the pool is reported', async () => {
    const { samples } = await scrape();
    expect(find(samples, 'member_roles_db_pool_max')[0]?.value).toBe(10);
    const open = find(samples, 'member_roles_db_pool_connections')[0]!.value;
    expect(open).toBeGreaterThanOrEqual(1);
    expect(find(samples, 'member_roles_db_pool_idle')[0]!.value).toBeLessThanOrEqual(open);
    expect(find(samples, 'member_roles_db_pool_waiting')[0]!.value).toBe(0);
  });

  test('the metrics need the platform key: none, or a member key, is 401 UNAUTHENTICATED', async () => {
    const org = await createOrg(ctx);
    for (const headers of [{}, { Authorization: `Bearer ${org.owner.key}` }] as Record<
      string,
      string
    >[]) {
      const res = await fetch(`${ctx.url}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    }
    const viaHeader = await fetch(`${ctx.url}/metrics`, { headers: { 'X-API-Key': PLATFORM_KEY } });
    expect(viaHeader.status).toBe(200);
  });

  test('MEMBER_ROLES_METRICS_PUBLIC=1 serves them without a key', async () => {
    const open = await startTestService({ metricsPublic: true });
    try {
      const { samples } = await scrape(open.url, undefined);
      expect(find(samples, 'process_cpu_seconds_total')).toHaveLength(1);
    } finally {
      await open.stop();
    }
  });
});
