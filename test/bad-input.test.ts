import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startTestService, type TestContext } from './support/context.js';
import { addActor, createOrg, type TestActor, type TestOrg } from './support/scenario.js';

let ctx: TestContext;
let org: TestOrg;
let member: TestActor;
let cases = 0;

beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx);
  member = await addActor(ctx, org, 'member');
});
afterAll(async () => {
  await ctx.stop();
  process.stdout.write(`bad inputs tried: ${cases}\n`);
});

/** Everything a caller could see change: members, roles, teams and the audit trail. */
async function snapshot() {
  const read = async (path: string) => {
    const res = await fetch(`${ctx.url}${path}`, {
      headers: { Authorization: `Bearer ${org.owner.key}` },
    });
    expect(res.status).toBe(200);
    return res.json();
  };
  const base = `/v1/organizations/${org.orgId}`;
  return Promise.all([
    read(base),
    read(`${base}/members?limit=100`),
    read(`${base}/roles?limit=100`),
    read(`${base}/teams?limit=100`),
    read(`${base}/audit-events?limit=100`),
  ]);
}

interface Attempt {
  method?: string;
  path?: string;
  body?: string;
  headers?: Record<string, string>;
}

/** Sends a bad request: it must get a problem+json 4xx with the code given, and change nothing. */
async function refused(attempt: Attempt, status: number, code: string) {
  cases += 1;
  const before = await snapshot();
  const res = await fetch(`${ctx.url}${attempt.path ?? `/v1/organizations/${org.orgId}/members`}`, {
    method: attempt.method ?? 'POST',
    headers: {
      Authorization: `Bearer ${org.owner.key}`,
      'content-type': 'application/json',
      ...attempt.headers,
    },
    ...(attempt.body !== undefined ? { body: attempt.body } : {}),
  });
  const text = await res.text();
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({
    status,
    type: expect.stringMatching(/^application\/problem\+json/),
  });
  const problem = JSON.parse(text) as { code: string; requestId: string };
  expect(problem.code).toBe(code);
  expect(problem.requestId).toBe(res.headers.get('x-request-id'));
  expect(text).not.toMatch(/node_modules|at [A-Za-z.]+ \(|select |insert |syntax error at/i);
  expect(await snapshot()).toEqual(before);
  return problem;
}

const valid = { userId: 'usr_new', email: 'new@example.test' };
const body = (value: unknown) => JSON.stringify(value);

describe('bad bodies are refused with problem+json and change nothing', () => {
  test('a body over the limit is 413 PAYLOAD_TOO_LARGE', async () => {
    await refused(
      { body: body({ ...valid, name: 'x'.repeat(200_000) }) },
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  test.each([
    ['missing', undefined],
    ['text/plain', 'text/plain'],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
    ['application/xml', 'application/xml'],
  ])('a %s content type is 415 UNSUPPORTED_MEDIA_TYPE', async (_name, type) => {
    const headers: Record<string, string> = type ? { 'content-type': type } : {};
    if (!type) {
      // fetch adds text/plain to a string body; send raw bytes without a content type instead.
      cases += 1;
      const before = await snapshot();
      const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/members`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${org.owner.key}` },
        body: new Blob([body(valid)]),
      });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { code: string }).code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(await snapshot()).toEqual(before);
      return;
    }
    await refused({ body: body(valid), headers }, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test.each([
    ['truncated JSON', '{"userId": "usr_new", "email": '],
    ['a top-level array', '[]'],
    ['a top-level string', '"usr_new"'],
    ['a top-level number', '42'],
    ['a top-level null', 'null'],
    [
      'deeply nested arrays',
      `{"userId": ${'['.repeat(5000)}${']'.repeat(5000)}, "email": "a@b.test"}`,
    ],
    [
      'a __proto__ key',
      '{"userId": "usr_new", "email": "a@b.test", "__proto__": {"roleId": "admin"}}',
    ],
    [
      'a constructor key',
      '{"userId": "usr_new", "email": "a@b.test", "constructor": {"prototype": {"polluted": true}}}',
    ],
    ['an unknown property', body({ ...valid, status: 'active' })],
    ['a number where a string belongs', body({ ...valid, userId: 42 })],
    ['a boolean email', body({ ...valid, email: true })],
    ['"Owner" as a role', body({ ...valid, roleId: 'Owner' })],
    ['"owner " as a role', body({ ...valid, roleId: 'owner ' })],
    ['a NUL byte in a string', body({ ...valid, name: 'Bob\u0000Smith' })],
    [
      'a lone surrogate in a string',
      '{"userId": "usr_new", "email": "a@b.test", "name": "Bob \\ud800 Smith"}',
    ],
    ['an over-long name', body({ ...valid, name: 'x'.repeat(201) })],
    ['an over-long user id', body({ ...valid, userId: 'u'.repeat(256) })],
    ['a user id outside the pattern', body({ ...valid, userId: 'bob smith' })],
    ['an invalid email', body({ ...valid, email: 'not-an-email' })],
    ['an empty object', '{}'],
    ['a U+FEFF in a string', body({ ...valid, name: '\uFEFFBob' })],
    ['an email with a leading dot', body({ ...valid, email: '.a@example.test' })],
    ['an email with two dots in a row', body({ ...valid, email: 'a..b@example.test' })],
    ['an image URL with a broken escape', body({ ...valid, imageUrl: 'https://example.test/%zz' })],
    ['an image URL that is not absolute', body({ ...valid, imageUrl: 'a:' })],
  ])('%s is 400 VALIDATION_FAILED', async (_name, raw) => {
    const problem = await refused({ body: raw }, 400, 'VALIDATION_FAILED');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(problem).toHaveProperty('status', 400);
  });

  test('text that cannot be stored is reported where it sits, as a JSON pointer', async () => {
    const problem = (await refused(
      {
        body: body({
          ...valid,
          name: 'ok',
          extra: [{ deep: 'fine' }, { deep: 'a\u0000b' }],
          ['we/ird~\u0000']: 1,
        }),
      },
      400,
      'VALIDATION_FAILED',
    )) as unknown as { errors: { location: string; path: string; message: string }[] };
    expect(problem.errors.map(({ location, path }) => ({ location, path }))).toEqual(
      expect.arrayContaining([
        { location: 'body', path: '/extra/1/deep' },
        { location: 'body', path: '/we~1ird~0\u0000' },
      ]),
    );
    expect(problem.errors.find((e) => e.path === '/we~1ird~0\u0000')?.message).toMatch(
      /^the property name /,
    );
  });

  test('a body failing thousands of checks gets a bounded answer: at most 50 errors, each cut short', async () => {
    const unknown = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`x${i}`, i]));
    const problem = (await refused(
      { body: body({ ...valid, ...unknown, ['k'.repeat(5000)]: 1 }) },
      400,
      'VALIDATION_FAILED',
    )) as unknown as { errors: { path: string; message: string }[] };
    expect(problem.errors).toHaveLength(50);
    for (const error of problem.errors) {
      expect(error.path.length).toBeLessThanOrEqual(200);
      expect(error.message.length).toBeLessThanOrEqual(500);
    }
  });

  test('a wrong type on setMemberRole names the field', async () => {
    const problem = (await refused(
      {
        method: 'PUT',
        path: `/v1/organizations/${org.orgId}/members/${member.userId}/role`,
        body: body({ roleId: 7 }),
      },
      400,
      'VALIDATION_FAILED',
    )) as unknown as { errors: { location: string; path: string }[] };
    expect(problem.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ location: 'body', path: '/roleId' })]),
    );
  });
});

describe('bad parameters are refused with problem+json and change nothing', () => {
  test.each(['0', '-1', 'abc', '100000', '1&limit=2', '1.5'])('limit=%s is 400', async (limit) => {
    await refused(
      { method: 'GET', path: `/v1/organizations/${org.orgId}/members?limit=${limit}` },
      400,
      'VALIDATION_FAILED',
    );
  });

  test.each([
    '2026-00-10T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2016-12-31T23:59:60Z',
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00+14:00',
    '9999-12-31T23:59:59-23:59',
    'yesterday',
  ])('since=%s is 400', async (since) => {
    await refused(
      {
        method: 'GET',
        path: `/v1/organizations/${org.orgId}/audit-events?since=${encodeURIComponent(since)}`,
      },
      400,
      'VALIDATION_FAILED',
    );
  });

  test('a NUL in a search term is 400', async () => {
    await refused(
      { method: 'GET', path: `/v1/organizations/${org.orgId}/members?q=a%00b` },
      400,
      'VALIDATION_FAILED',
    );
  });

  test('an unknown query parameter is 400', async () => {
    await refused(
      { method: 'GET', path: `/v1/organizations/${org.orgId}/members?sort=name` },
      400,
      'VALIDATION_FAILED',
    );
  });

  test.each(['%E0%A4%A', '%', '%ZZ', 'bob%20smith', 'a'.repeat(256), '%C3%A9'])(
    'the user id %s in a path is 400',
    async (raw) => {
      await refused(
        {
          method: 'PUT',
          path: `/v1/organizations/${org.orgId}/members/${raw}/role`,
          body: body({ roleId: 'viewer' }),
        },
        400,
        'VALIDATION_FAILED',
      );
    },
  );

  test.each(['org_short', 'ORG_01JD0000000000000000000000', 'org_01JD00000000000000000000IL'])(
    'the organization id %s is 400',
    async (orgId) => {
      await refused(
        { method: 'GET', path: `/v1/organizations/${orgId}/members` },
        400,
        'VALIDATION_FAILED',
      );
    },
  );

  test('a tampered cursor and a cursor of another organization are 400', async () => {
    const other = await createOrg(ctx);
    await addActor(ctx, other, 'member');
    const page = await other.owner.client.GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: other.orgId }, query: { limit: 1 } },
    });
    const foreign = page.data!.nextCursor!;
    await refused(
      { method: 'GET', path: `/v1/organizations/${org.orgId}/members?cursor=${foreign}` },
      400,
      'VALIDATION_FAILED',
    );
    const tampered = Buffer.from('{"l":"members","o":"x"}').toString('base64url');
    await refused(
      { method: 'GET', path: `/v1/organizations/${org.orgId}/members?cursor=${tampered}` },
      400,
      'VALIDATION_FAILED',
    );
    await refused(
      { method: 'GET', path: `/v1/organizations/${org.orgId}/members?cursor=%FF%FE` },
      400,
      'VALIDATION_FAILED',
    );
    // Well-formed but forged: keys no list issues (out of range, or text the database refuses).
    const forge = (l: string, k: unknown[]) =>
      Buffer.from(JSON.stringify({ l, o: org.orgId, k })).toString('base64url');
    for (const [list, key] of [
      ['roles', [1e15, 'x']],
      ['roles', [-1, 'x']],
      ['members', ['a\u0000b']],
      ['audit', ['\ud800']],
      ['members', ['x'.repeat(300)]],
    ] as const) {
      const path = list === 'audit' ? 'audit-events' : list;
      await refused(
        {
          method: 'GET',
          path: `/v1/organizations/${org.orgId}/${path}?cursor=${forge(list, [...key])}`,
        },
        400,
        'VALIDATION_FAILED',
      );
    }
  });

  test.each(["'; drop table memberships; --", '%', '%_%', '\\', "' or 1=1 --"])(
    'the search term %s is matched literally',
    async (q) => {
      cases += 1;
      const before = await snapshot();
      const res = await fetch(
        `${ctx.url}/v1/organizations/${org.orgId}/members?q=${encodeURIComponent(q)}`,
        { headers: { Authorization: `Bearer ${org.owner.key}` } },
      );
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: unknown[] }).data).toEqual([]);
      expect(await snapshot()).toEqual(before);
    },
  );
});

describe('bad requests at the edges', () => {
  test('huge headers are 431 HEADERS_TOO_LARGE problem+json', async () => {
    cases += 1;
    const answer = await new Promise<{ status: number; type: string; body: string }>(
      (resolve, reject) => {
        const { port } = new URL(ctx.url);
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: `/v1/organizations/${org.orgId}/me`,
            headers: { 'X-Filler': 'x'.repeat(40_000) },
          },
          (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode!,
                type: String(res.headers['content-type']),
                body: text,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    expect(answer.status).toBe(431);
    expect(answer.type).toMatch(/application\/problem\+json/);
    expect(JSON.parse(answer.body).code).toBe('HEADERS_TOO_LARGE');
  });

  test.each([
    ['no credentials', {}],
    ['an empty bearer token', { Authorization: 'Bearer ' }],
    ['a malformed Authorization header', { Authorization: 'Token abc' }],
    ['an empty X-API-Key', { 'X-API-Key': '' }],
    ['an unknown key', { 'X-API-Key': 'mrk_0000000000000000000000000000000000000000000' }],
  ])('%s is 401 UNAUTHENTICATED', async (_name, headers) => {
    cases += 1;
    const before = await snapshot();
    const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: body(valid),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeTruthy();
    expect(((await res.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
    expect(await snapshot()).toEqual(before);
  });

  test.each(['PUT', 'PATCH', 'DELETE'])(
    '%s on the members collection is 405 with Allow',
    async (method) => {
      const problem = await refused({ method, body: body(valid) }, 405, 'METHOD_NOT_ALLOWED');
      expect(problem.code).toBe('METHOD_NOT_ALLOWED');
      const res = await fetch(`${ctx.url}/v1/organizations/${org.orgId}/members`, {
        method,
        headers: { Authorization: `Bearer ${org.owner.key}` },
      });
      expect(res.headers.get('allow')!.split(/,\s*/).sort()).toEqual(['GET', 'POST']);
    },
  );

  test('an API key in the query string is not accepted', async () => {
    await refused(
      {
        method: 'GET',
        path: `/v1/permissions?api_key=${org.owner.key}`,
        headers: { Authorization: '' },
      },
      401,
      'UNAUTHENTICATED',
    );
  });
});
