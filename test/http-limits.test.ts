import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sql } from 'kysely';
import { startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw TCP connection to the service: what it was sent back, and when it closed. */
function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  return { socket, connected, closed, received: () => received };
}

function problemOf(raw: string) {
  const [head, body] = raw.split('\r\n\r\n');
  return { head: head ?? '', problem: JSON.parse(body ?? '{}') as Record<string, unknown> };
}

let ctx: TestContext;
let org: TestOrg;
beforeAll(async () => {
  ctx = await startTestService({
    headersTimeoutMs: 500,
    requestTimeoutMs: 1000,
    maxConnections: 8,
  });
  org = await createOrg(ctx);
});
afterAll(async () => {
  await ctx.stop();
});

describe('time limits: a client too slow to send its request gets 408 REQUEST_TIMEOUT', () => {
  test('headers not complete within HEADERS_TIMEOUT_MS: 408 problem+json, and the connection is closed', async () => {
    const conn = rawConnection(ctx.url);
    await conn.connected;
    const started = Date.now();
    conn.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const closedAt = await conn.closed;
    expect(closedAt - started).toBeGreaterThanOrEqual(400);
    expect(closedAt - started).toBeLessThan(2000);
    const { head, problem } = problemOf(conn.received());
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    expect(problem).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
  });

  test('a body not complete within REQUEST_TIMEOUT_MS: 408 problem+json, not 400, and nothing is stored', async () => {
    const conn = rawConnection(ctx.url);
    await conn.connected;
    const started = Date.now();
    conn.socket.write(
      `POST /v1/organizations/${org.orgId}/members HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${org.owner.key}\r\nContent-Type: application/json\r\n` +
        'Content-Length: 200\r\n\r\n{"userId":"usr_slow",',
    );
    const closedAt = await conn.closed;
    expect(closedAt - started).toBeGreaterThanOrEqual(900);
    expect(closedAt - started).toBeLessThan(3000);
    const { head, problem } = problemOf(conn.received());
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(problem).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
    const slow = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: 'usr_slow' } },
    });
    expect(slow.response.status).toBe(404);
  });

  test('a connection that sends nothing is closed after HEADERS_TIMEOUT_MS', async () => {
    const conn = rawConnection(ctx.url);
    await conn.connected;
    const started = Date.now();
    const closedAt = await conn.closed;
    expect(closedAt - started).toBeLessThan(2000);
  });
});

/** Waits until `check` holds, for up to `ms`. */
async function eventually(check: () => boolean, ms = 3000) {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await sleep(20);
  return check();
}

describe('MAX_CONNECTIONS', () => {
  test('connections beyond the cap are closed at once; those within it are served, and a freed place is taken again', async () => {
    const own = await startTestService({ maxConnections: 4 });
    const held = Array.from({ length: 4 }, () => rawConnection(own.url));
    try {
      await Promise.all(held.map((c) => c.connected));
      // Each has begun a request (and waits to finish it): the service counts all four.
      for (const c of held) c.socket.write('GET /healthz HTTP/1.1\r\n');
      await sleep(100);
      const extra = rawConnection(own.url);
      await extra.connected;
      extra.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await extra.closed;
      expect(extra.received()).toBe('');
      // A held connection is served.
      held[0]!.socket.write('Host: 127.0.0.1\r\n\r\n');
      expect(await eventually(() => /^HTTP\/1\.1 200 /.test(held[0]!.received()))).toBe(true);
      // Once one closes, a new connection is served.
      held[1]!.socket.destroy();
      await held[1]!.closed;
      await sleep(50);
      const res = await fetch(`${own.url}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      for (const c of held) c.socket.destroy();
      await own.stop();
    }
  });
});

/** A request with the given header lines (names may repeat), answered with status and body. */
function sendWithHeaders(path: string, headers: [string, string][]) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request(`${ctx.url}${path}`, { method: 'GET' });
    const grouped = new Map<string, string[]>();
    for (const [name, value] of headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
    for (const [name, values] of grouped)
      req.setHeader(name, values.length === 1 ? values[0]! : values);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('credentials are sent once', () => {
  test('two Authorization headers are 400 VALIDATION_FAILED, even when the first is valid', async () => {
    const path = `/v1/organizations/${org.orgId}/me`;
    const once = await sendWithHeaders(path, [['Authorization', `Bearer ${org.owner.key}`]]);
    expect(once.status).toBe(200);
    const twice = await sendWithHeaders(path, [
      ['Authorization', `Bearer ${org.owner.key}`],
      ['Authorization', 'Bearer mrk_someone_else'],
    ]);
    expect(twice.status).toBe(400);
    expect(twice.body).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ location: 'header', path: 'Authorization' }],
    });
  });

  test('two X-API-Key headers are 400 VALIDATION_FAILED', async () => {
    const twice = await sendWithHeaders(`/v1/organizations/${org.orgId}/me`, [
      ['X-API-Key', org.owner.key],
      ['X-API-Key', org.owner.key],
    ]);
    expect(twice.status).toBe(400);
    expect(twice.body).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('routing is exact', () => {
  test('paths are case-sensitive: /V1/… is 404 NOT_FOUND', async () => {
    for (const path of [`/V1/organizations/${org.orgId}/me`, `/v1/Organizations/${org.orgId}/me`]) {
      const res = await fetch(`${ctx.url}${path}`, {
        headers: { Authorization: `Bearer ${org.owner.key}` },
      });
      expect([path, res.status]).toEqual([path, 404]);
      expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND');
    }
  });

  test('routing is strict: a trailing slash is another path, 404 NOT_FOUND', async () => {
    for (const path of [`/v1/organizations/${org.orgId}/me/`, '/v1/permissions/', '/healthz/']) {
      const res = await fetch(`${ctx.url}${path}`, {
        headers: { Authorization: `Bearer ${org.owner.key}` },
      });
      expect([path, res.status]).toEqual([path, 404]);
    }
  });
});

describe('URLs a client may render are https: or http: only', () => {
  test('an imageUrl with another scheme (javascript:, data:) is 400 and not stored; https: is accepted', async () => {
    for (const imageUrl of [
      'javascript:alert(1)',
      'data:image/png;base64,AAAA',
      'ftp://x.test/a',
    ]) {
      const { response, error } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: org.orgId } },
        body: { userId: 'usr_scheme', email: 'scheme@example.test', imageUrl },
      });
      expect([imageUrl, response.status]).toEqual([imageUrl, 400]);
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    const owner = await ctx.platform.POST('/v1/organizations', {
      body: {
        name: 'Schemes',
        slug: 'schemes-org',
        owner: { userId: 'usr_js', email: 'js@example.test', imageUrl: 'javascript:alert(1)' },
      },
    });
    expect(owner.response.status).toBe(400);
    const ok = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: {
        userId: 'usr_https',
        email: 'https@example.test',
        imageUrl: 'https://cdn.example.test/a.png',
      },
    });
    expect(ok.data?.user.imageUrl).toBe('https://cdn.example.test/a.png');
  });

  test('a javascript: URL stored before the rule is answered as null', async () => {
    await org.owner.client.POST('/v1/organizations/{orgId}/members', {
      params: { path: { orgId: org.orgId } },
      body: { userId: 'usr_legacy', email: 'legacy@example.test' },
    });
    await sql`update memberships set image_url = 'javascript:alert(1)' where user_id = 'usr_legacy'`.execute(
      ctx.service.database.db,
    );
    const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
      params: { path: { orgId: org.orgId, userId: 'usr_legacy' } },
    });
    expect(data?.user.imageUrl).toBeNull();
  });
});

describe('a database that fails under the service', () => {
  test('requests are 503 SERVICE_UNAVAILABLE with Retry-After (not 500), readyz says 503, and the process lives on', async () => {
    const own = await startTestService();
    try {
      const ownOrg = await createOrg(own);
      // PGlite closed, or the PostgreSQL pool ended: the database is gone from under the service.
      await own.service.database.close();
      const read = await fetch(`${own.url}/v1/organizations/${ownOrg.orgId}/me`, {
        headers: { Authorization: `Bearer ${ownOrg.owner.key}` },
      });
      expect(read.status).toBe(503);
      expect(read.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(read.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await read.json()) as { code: string }).code).toBe('SERVICE_UNAVAILABLE');
      const write = await fetch(`${own.url}/v1/organizations/${ownOrg.orgId}/members`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${ownOrg.owner.key}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ userId: 'usr_late', email: 'late@example.test' }),
      });
      expect(write.status).toBe(503);
      expect(((await write.json()) as { code: string }).code).toBe('SERVICE_UNAVAILABLE');
      await sleep(600); // past the readiness answer kept for half a second
      const ready = await fetch(`${own.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await own.stop();
    }
  });
});
