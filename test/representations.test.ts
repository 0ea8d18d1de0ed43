import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { sql } from 'kysely';
import { iso, toAuditEvent } from '../server/domain/representations.js';
import type { AuditEventRecord } from '../server/storage/audit.repository.js';
import { startTestService } from './support/context.js';
import { createOrg } from './support/scenario.js';

describe('timestamps are written as the contract spells them', () => {
  test('PostgreSQL’s UTC spelling becomes the same instant with milliseconds and Z, as Date writes it', () => {
    const micros = fc.integer({ min: 0, max: 999_999 });
    const instant = fc.date({
      min: new Date('1000-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instant, micros, fc.integer({ min: 0, max: 6 }), (at, fraction, digits) => {
        const seconds = at.toISOString().slice(0, 19);
        const decimals = String(fraction).padStart(6, '0').slice(0, digits);
        const spelled = `${seconds}${digits > 0 ? `.${decimals}` : ''}+00:00`;
        expect(iso(spelled)).toBe(new Date(spelled).toISOString());
      }),
      { seed: 7, numRuns: 2_000 },
    );
  });

  test('other spellings and Date values go through Date', () => {
    expect(iso('2026-11-30T17:03:54.5+01:00')).toBe('2026-11-30T16:03:54.500Z');
    expect(iso(new Date('2026-11-30T16:03:54.123Z'))).toBe('2026-11-30T16:03:54.123Z');
    expect(iso('2026-11-30 16:03:54.123456+00')).toBe('2026-11-30T16:03:54.123Z');
  });
});

describe('a page of members, written by the database, says what getMember says', () => {
  // As in production: pages go out as the database wrote them (tests elsewhere validate responses
  // against the contract, which sends them as values).
  test('every field of every member, odd ones included, across pages', async () => {
    const ctx = await startTestService({ production: true });
    try {
      const org = await createOrg(ctx);
      const members = '/v1/organizations/{orgId}/members' as const;
      const people = [
        { userId: 'usr_quote', email: 'q@example.test', name: 'Zoë "Q" \\ O\'Brien 🚀' },
        { userId: 'usr_noname', email: 'n@example.test' },
        {
          userId: 'usr_avatar',
          email: 'a@example.test',
          imageUrl: 'https://cdn.example.test/a.png',
        },
        { userId: 'usr_legacy', email: 'l@example.test', roleId: 'viewer' },
      ];
      for (const body of people) {
        await org.owner.client.POST(members, { params: { path: { orgId: org.orgId } }, body });
      }
      const teams = [];
      for (const name of ['Zeta', 'Alpha']) {
        const { data } = await org.owner.client.POST('/v1/organizations/{orgId}/teams', {
          params: { path: { orgId: org.orgId } },
          body: { name },
        });
        teams.push(data!);
      }
      for (const team of teams) {
        await org.owner.client.PUT('/v1/organizations/{orgId}/teams/{teamId}/members/{userId}', {
          params: { path: { orgId: org.orgId, teamId: team.id, userId: 'usr_quote' } },
          body: { role: 'member' },
        });
      }
      await org.owner.client.PATCH('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: 'usr_noname' } },
        body: { status: 'suspended' },
      });
      const db = ctx.service.database.db;
      // Stored before the rule on image URLs; a time with microseconds (cut to milliseconds).
      await sql`update memberships set image_url = 'javascript:alert(1)',
        joined_at = '2026-01-02 03:04:05.678999+00' where user_id = 'usr_legacy'`.execute(db);

      const seen = [];
      let cursor: string | undefined;
      do {
        const url = new URL(`${ctx.url}/v1/organizations/${org.orgId}/members`);
        url.searchParams.set('limit', '2');
        if (cursor) url.searchParams.set('cursor', cursor);
        const res = await fetch(url, { headers: { Authorization: `Bearer ${org.owner.key}` } });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
        const page = (await res.json()) as {
          data: { userId: string }[];
          nextCursor: string | null;
        };
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);

      expect(seen.map((m) => m.userId).sort()).toEqual(
        [org.owner.userId, ...people.map((p) => p.userId)].sort(),
      );
      for (const member of seen) {
        const single = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
          params: { path: { orgId: org.orgId, userId: member.userId } },
        });
        expect(member).toEqual(single.data);
        // Field for field, in the same order.
        expect(JSON.stringify(member)).toBe(JSON.stringify(single.data));
      }
      const legacy = seen.find((m) => m.userId === 'usr_legacy') as unknown as {
        user: { imageUrl: string | null };
        joinedAt: string;
      };
      expect(legacy.user.imageUrl).toBeNull();
      expect(legacy.joinedAt).toBe('2026-01-02T03:04:05.678Z');
    } finally {
      await ctx.stop();
    }
  });
});

describe('a page of the audit trail, written by the database, says what toAuditEvent says', () => {
  test('every field of every event, legacy ones and odd values included, across pages', async () => {
    const ctx = await startTestService({ production: true });
    try {
      const org = await createOrg(ctx);
      const members = `/v1/organizations/${org.orgId}/members`;
      const auth = { Authorization: `Bearer ${org.owner.key}` };
      for (const [userId, name] of [
        ['usr_quote', 'Zoë "Q" \\ O\'Brien 🚀'],
        ['usr_plain', 'Plain'],
      ]) {
        await fetch(`${ctx.url}${members}`, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/json' },
          body: JSON.stringify({ userId, email: `${userId}@example.test`, name }),
        });
      }
      await fetch(`${ctx.url}${members}/usr_plain`, {
        method: 'PATCH',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'Ünïcode “name”', status: 'suspended' }),
      });
      const db = ctx.service.database.db;
      // Events written before credentials other than keys existed name no `via`; a time with
      // microseconds is cut to milliseconds; JSON values as a change records them.
      const legacy = (id: string, actorType: string, userId: string | null, after: string) =>
        sql`insert into audit_events (id, org_id, action, actor_type, actor_user_id, actor_key_id,
            target_user_id, target_id, before, after, request_id, occurred_at, actor_via)
          values (${id}, ${org.orgId}, 'member.role_changed', ${actorType}, ${userId}, null,
            'usr_quote', null, '{"roleId":"member","nested":{"b":[1,2.5,null,true]}}'::jsonb,
            ${after}::jsonb, 'req-legacy', '2026-01-02 03:04:05.678999+00', null)`.execute(db);
      await legacy('evt_00000000000000000000000001', 'platform', null, '{"roleId":"viewer"}');
      await legacy(
        'evt_00000000000000000000000002',
        'member',
        org.owner.userId,
        '{"n":"Zoë 🚀 \\"q\\""}',
      );

      const seen: unknown[] = [];
      let cursor: string | undefined;
      do {
        const url = new URL(`${ctx.url}/v1/organizations/${org.orgId}/audit-events`);
        url.searchParams.set('limit', '2');
        if (cursor) url.searchParams.set('cursor', cursor);
        const res = await fetch(url, { headers: auth });
        expect(res.status).toBe(200);
        const page = (await res.json()) as { data: unknown[]; nextCursor: string | null };
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);

      const { rows } = await sql<AuditEventRecord>`select * from audit_events
        where org_id = ${org.orgId} order by id collate "C" desc`.execute(db);
      expect(rows.length).toBeGreaterThanOrEqual(6);
      expect(rows.some((row) => row.actor_type === 'platform')).toBe(true);
      // Field for field, in the same order.
      expect(JSON.stringify(seen)).toBe(JSON.stringify(rows.map(toAuditEvent)));
    } finally {
      await ctx.stop();
    }
  });
});

describe.each([
  ['as in production', true],
  ['checked against the contract', false],
])('answers are written alike %s', (_title, production) => {
  test('JSON with its type and exact length, no 304 the contract does not declare, problems as problem+json', async () => {
    const ctx = await startTestService({ production });
    try {
      const org = await createOrg(ctx);
      const members = `${ctx.url}/v1/organizations/${org.orgId}/members`;
      const auth = { Authorization: `Bearer ${org.owner.key}` };
      const added = await fetch(members, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          userId: 'usr_wide',
          email: 'w@example.test',
          name: 'Zoë 🚀 “wide”',
        }),
      });
      expect(added.status).toBe(201);

      const res = await fetch(`${members}/usr_wide`, { headers: auth });
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
      expect(JSON.parse(bytes.toString('utf8'))).toMatchObject({ user: { name: 'Zoë 🚀 “wide”' } });
      const etag = res.headers.get('etag')!;
      expect(etag).toMatch(/^"\d+"$/);

      const again = await fetch(`${members}/usr_wide`, {
        // fetch adds `Cache-Control: no-cache` to a conditional request unless one is given.
        headers: { ...auth, 'If-None-Match': etag, 'Cache-Control': 'max-age=0' },
      });
      expect(again.status).toBe(200);
      expect(Buffer.from(await again.arrayBuffer())).toEqual(bytes);

      // Long answers (a page the database wrote, a page of the audit trail) are written after
      // their head rather than joined to it: still whole, with their exact length.
      for (let i = 0; i < 20; i++) {
        const body = { userId: `usr_wide_${i}`, email: `w${i}@example.test`, name: `Zoë 🚀 ${i}` };
        await fetch(members, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      }
      for (const [path, seen] of [
        ['?limit=50', 'Zoë 🚀 19'],
        ['/../audit-events?limit=50', 'usr_wide_19'],
      ] as const) {
        const long = await fetch(new URL(`${members}${path}`), {
          headers: { ...auth, 'Cache-Control': 'no-cache' },
        });
        const text = Buffer.from(await long.arrayBuffer());
        expect(long.status).toBe(200);
        expect(text.length).toBeGreaterThan(4096);
        expect(Number(long.headers.get('content-length'))).toBe(text.length);
        const page = JSON.parse(text.toString('utf8')) as { data: unknown[] };
        expect(page.data.length).toBeGreaterThan(20);
        expect(text.toString('utf8')).toContain(seen);
      }

      const missing = await fetch(`${members}/usr_nobody`, { headers: auth });
      const problem = Buffer.from(await missing.arrayBuffer());
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
      expect(Number(missing.headers.get('content-length'))).toBe(problem.length);
      expect(JSON.parse(problem.toString('utf8'))).toMatchObject({
        status: 404,
        code: 'NOT_FOUND',
      });
    } finally {
      await ctx.stop();
    }
  });
});
