// The `member-roles` command, run as a user runs it (its own process, MEMBER_ROLES_URL and
// MEMBER_ROLES_KEY in its environment) against a real service. The command does the same over
// either database; the 1,000-row import runs on the PostgreSQL pass, where requests of one
// organization really run side by side (and where a deployment imports), the others on the
// PGlite pass.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import type { AuditEvent, Member } from '../client/index.js';
import { CSV_COLUMNS } from '../cli/commands/audit.js';
import { compileCli, runCli, startCli } from './support/cli-process.js';
import { freePort } from './support/private-postgres.js';
import { onPostgres, PLATFORM_KEY, startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

const onPGlitePass = onPostgres ? test.skip : test;
const onPostgresPass = onPostgres ? test : test.skip;

let cli: { main: string; remove(): void };
let ctx: TestContext;
let scratch: string;
beforeAll(async () => {
  [cli, ctx] = await Promise.all([compileCli(), startTestService()]);
  scratch = mkdtempSync(join(tmpdir(), 'member-roles-cli-'));
});
afterAll(async () => {
  cli.remove();
  await ctx.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const as = (org: TestOrg) => ({ url: ctx.url, key: org.owner.key });
const member = (org: TestOrg, args: string[]) =>
  runCli(cli.main, ['--json', 'members', ...args], as(org));

/** How many members an organization has, and how many `member.added` events of imported rows. */
async function stored(orgId: string) {
  const { db } = ctx.service.database;
  const members = await db
    .selectFrom('memberships')
    .where('org_id', '=', orgId)
    .select(sql<number>`count(*)::int`.as('n'))
    .executeTakeFirstOrThrow();
  const added = await db
    .selectFrom('audit_events')
    .where('org_id', '=', orgId)
    .where('action', '=', 'member.added')
    .where('target_user_id', 'like', 'usr_imp_%')
    .select([
      sql<number>`count(*)::int`.as('n'),
      sql<number>`count(distinct target_user_id)::int`.as('distinct'),
    ])
    .executeTakeFirstOrThrow();
  return { members: members.n, addedEvents: added.n, addedDistinct: added.distinct };
}

describe('member-roles members', () => {
  onPGlitePass(
    'add, set-role, suspend, list and remove do what the API does; tables for people, JSON for machines',
    async () => {
      const org = await createOrg(ctx);
      const userId = 'samlp|acme|bob@acme.test';
      const added = await member(org, [
        'add',
        org.orgId,
        userId,
        '--email',
        'bob@acme.test',
        '--name',
        'Bob',
      ]);
      expect(added).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(added.stdout)).toMatchObject({
        userId,
        role: { id: 'member' },
        version: 1,
      });

      const changed = await member(org, [
        'set-role',
        org.orgId,
        userId,
        'admin',
        '--if-version',
        '1',
      ]);
      expect(changed.code).toBe(0);
      expect(JSON.parse(changed.stdout)).toMatchObject({ role: { id: 'admin' }, version: 2 });
      // The version given is checked (If-Match): a stale one changes nothing.
      const stale = await member(org, [
        'set-role',
        org.orgId,
        userId,
        'viewer',
        '--if-version',
        '1',
      ]);
      expect(stale.code).toBe(1);
      expect(stale.stdout).toBe('');
      expect(JSON.parse(stale.stderr)).toMatchObject({ problem: { code: 'PRECONDITION_FAILED' } });

      expect((await member(org, ['suspend', org.orgId, userId])).code).toBe(0);
      const table = await runCli(cli.main, ['members', 'list', org.orgId], as(org));
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^USER\s+EMAIL\s+NAME\s+ROLE\s+STATUS\s+JOINED$/);
      expect(lines.find((line) => line.startsWith(userId))).toMatch(
        /^samlp\|acme\|bob@acme\.test\s+bob@acme\.test\s+Bob\s+admin\s+suspended\s+\d{4}-/,
      );
      expect(lines).toHaveLength(3); // the header, the owner and Bob
      const listed = JSON.parse(
        (await member(org, ['list', org.orgId, '--status', 'suspended'])).stdout,
      ) as Member[];
      expect(listed.map((m) => m.userId)).toEqual([userId]);

      // The platform key changes memberships only on behalf of a member: --as names them.
      const platform = { url: ctx.url, key: PLATFORM_KEY };
      const alone = await runCli(
        cli.main,
        ['members', 'add', org.orgId, 'usr_via', '--email', 'via@example.test'],
        platform,
      );
      expect(alone.code).toBe(1);
      expect(alone.stderr).toMatch(/ON_BEHALF_OF_REQUIRED \(403\)/);
      const onBehalf = await runCli(
        cli.main,
        [
          '--as',
          org.owner.userId,
          'members',
          'add',
          org.orgId,
          'usr_via',
          '--email',
          'via@example.test',
        ],
        platform,
      );
      expect(onBehalf.code).toBe(0);
      const { data: trail } = await org.owner.client.GET('/v1/organizations/{orgId}/audit-events', {
        params: { path: { orgId: org.orgId }, query: { targetUserId: 'usr_via' } },
      });
      expect(trail?.data[0]?.actor).toMatchObject({ userId: org.owner.userId, via: 'platform' });

      const removed = await member(org, ['remove', org.orgId, userId]);
      expect(removed.code).toBe(0);
      const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId } },
      });
      expect(data).toBeUndefined();
    },
  );

  onPGlitePass(
    "a refused command exits 1 with the problem's code and detail; a wrong command line exits 2",
    async () => {
      const org = await createOrg(ctx);
      const owner = await runCli(
        cli.main,
        ['members', 'add', org.orgId, 'usr_x', '--email', 'x@example.test', '--role', 'owner'],
        as(org),
      );
      expect(owner.code).toBe(1);
      expect(owner.stdout).toBe('');
      expect(owner.stderr).toMatch(
        /^member-roles: add member usr_x: VALIDATION_FAILED \(400\) Nobody joins as owner \(rule 13\)/,
      );

      // A list of another tenant's organization: 404, as for one that does not exist (rule 7).
      const elsewhere = await runCli(
        cli.main,
        ['members', 'list', (await createOrg(ctx)).orgId],
        as(org),
      );
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toMatch(
        /^member-roles: GET \/v1\/organizations\/\{orgId\}\/members: NOT_FOUND \(404\)/,
      );
      const version = await runCli(cli.main, ['--version'], { url: ctx.url });
      expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
      const unknown = await runCli(cli.main, ['members', 'lisst', org.orgId], as(org));
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/unknown command 'lisst'/);
      const noKey = await runCli(cli.main, ['members', 'list', org.orgId], { url: ctx.url });
      expect(noKey.code).toBe(2);
      expect(noKey.stderr).toMatch(/MEMBER_ROLES_KEY is not set/);
      const nothingThere = await runCli(cli.main, ['members', 'list', org.orgId], {
        url: `http://127.0.0.1:${await freePort()}`,
        key: org.owner.key,
      });
      expect(nothingThere.code).toBe(1);
      expect(nothingThere.stderr).toMatch(/could not reach the service: ECONNREFUSED/);
    },
  );
});

describe('member-roles invitations', () => {
  onPGlitePass(
    'create answers the token once, list shows the invitation, resend replaces the token, revoke ends it; a second invitation to the same address exits 1 with INVITATION_EXISTS',
    async () => {
      const org = await createOrg(ctx);
      const run = (args: string[]) => runCli(cli.main, ['--json', 'invitations', ...args], as(org));
      const created = await run(['create', org.orgId, 'Dana@Example.test', '--role', 'viewer']);
      expect(created).toMatchObject({ code: 0, stderr: '' });
      const invitation = JSON.parse(created.stdout) as { id: string; token: string };
      expect(invitation).toMatchObject({ status: 'pending', role: { id: 'viewer' } });
      expect(invitation.token).toMatch(/^mri_/);

      const again = await run(['create', org.orgId, 'dana@example.test']);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('INVITATION_EXISTS');

      const listed = await runCli(cli.main, ['invitations', 'list', org.orgId], as(org));
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(
        new RegExp(`^${invitation.id}\\s+Dana@Example.test\\s+viewer\\s+pending`, 'm'),
      );
      expect(listed.stdout).not.toContain(invitation.token);

      const resent = await run(['resend', org.orgId, invitation.id]);
      expect(resent.code).toBe(0);
      const token = (JSON.parse(resent.stdout) as { token: string }).token;
      expect(token).toMatch(/^mri_/);
      expect(token).not.toBe(invitation.token);

      expect((await run(['revoke', org.orgId, invitation.id])).code).toBe(0);
      const revoked = await run(['list', org.orgId, '--status', 'revoked']);
      expect(JSON.parse(revoked.stdout)).toEqual([
        expect.objectContaining({ id: invitation.id, status: 'revoked' }),
      ]);
      const twice = await run(['revoke', org.orgId, invitation.id]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toContain('INVITATION_NOT_PENDING');
    },
  );
});

describe('member-roles check', () => {
  onPGlitePass(
    'an access evaluation: exit 0 when allowed, 3 when denied with its code and reason',
    async () => {
      const org = await createOrg(ctx);
      const allowed = await runCli(
        cli.main,
        ['check', org.owner.userId, 'members:manage', `organization:${org.orgId}`],
        as(org),
      );
      expect(allowed).toMatchObject({ code: 0, stdout: 'allowed\n' });
      // The platform key asks about anyone: may a viewer make themself an admin?
      await org.owner.client.POST('/v1/organizations/{orgId}/members', {
        params: { path: { orgId: org.orgId } },
        body: { userId: 'usr_viewer', email: 'viewer@example.test', roleId: 'viewer' },
      });
      const denied = await runCli(
        cli.main,
        [
          '--json',
          'check',
          'usr_viewer',
          'member.set_role',
          'member:usr_viewer',
          '--org',
          org.orgId,
          '-p',
          'roleId=admin',
        ],
        { url: ctx.url, key: PLATFORM_KEY },
      );
      expect(denied.code).toBe(3);
      expect(JSON.parse(denied.stdout)).toMatchObject({
        decision: false,
        context: { code: 'INSUFFICIENT_PERMISSION' },
      });
      const human = await runCli(
        cli.main,
        ['check', 'usr_viewer', 'members:manage', `organization:${org.orgId}`],
        { url: ctx.url, key: PLATFORM_KEY },
      );
      expect(human.code).toBe(3);
      expect(human.stdout).toMatch(/^denied: INSUFFICIENT_PERMISSION \(.+\)\n$/);
    },
  );
});

describe('member-roles audit export', () => {
  onPGlitePass(
    'NDJSON and CSV, page after page, hold exactly the audit trail the API lists',
    async () => {
      const org = await createOrg(ctx);
      // 240 events: three pages of the export's 100.
      for (let i = 0; i < 120; i += 1) {
        const userId = `usr_audit_${i}`;
        const { error } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
          params: { path: { orgId: org.orgId } },
          body: { userId, email: `${userId}@example.test`, name: `Name "${i}", with a comma` },
        });
        expect(error).toBeUndefined();
        await org.owner.client.PUT('/v1/organizations/{orgId}/members/{userId}/role', {
          params: { path: { orgId: org.orgId, userId } },
          body: { roleId: i % 2 ? 'viewer' : 'admin' },
        });
      }
      const trail: AuditEvent[] = [];
      for await (const event of org.owner.client.paginate(
        '/v1/organizations/{orgId}/audit-events',
        {
          params: { path: { orgId: org.orgId } },
        },
      )) {
        trail.push(event);
      }
      expect(trail.length).toBeGreaterThanOrEqual(240);

      const ndjson = await runCli(cli.main, ['audit', 'export', org.orgId], as(org));
      expect(ndjson).toMatchObject({ code: 0, stderr: '' });
      const lines = ndjson.stdout.trimEnd().split('\n');
      expect(lines.map((line) => JSON.parse(line) as AuditEvent)).toEqual(trail);

      const file = join(scratch, 'audit.csv');
      const csv = await runCli(
        cli.main,
        ['audit', 'export', org.orgId, '--format', 'csv', '--output', file],
        as(org),
      );
      expect(csv.code).toBe(0);
      expect(csv.stderr).toBe(`wrote ${trail.length} events to ${file}\n`);
      const rows = parse<Record<string, string>>(readFileSync(file), { columns: true });
      expect(Object.keys(rows[0]!)).toEqual([...CSV_COLUMNS]);
      const orNull = (text: string) => (text === '' ? null : text);
      expect(
        rows.map((row): AuditEvent => ({
          id: row.id!,
          organizationId: row.organizationId!,
          action: row.action as AuditEvent['action'],
          actor: {
            type: row.actorType as AuditEvent['actor']['type'],
            userId: orNull(row.actorUserId!),
            apiKeyId: orNull(row.actorApiKeyId!),
            via: row.actorVia as AuditEvent['actor']['via'],
          },
          targetUserId: orNull(row.targetUserId!),
          targetId: orNull(row.targetId!),
          before: row.before ? (JSON.parse(row.before) as AuditEvent['before']) : null,
          after: row.after ? (JSON.parse(row.after) as AuditEvent['after']) : null,
          requestId: row.requestId!,
          occurredAt: row.occurredAt!,
        })),
      ).toEqual(trail);

      // Only the events asked for.
      const filtered = await runCli(
        cli.main,
        [
          'audit',
          'export',
          org.orgId,
          '--action',
          'member.role_changed',
          '--target',
          'usr_audit_7',
        ],
        as(org),
      );
      expect(
        filtered.stdout
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as AuditEvent),
      ).toEqual(
        trail.filter((e) => e.action === 'member.role_changed' && e.targetUserId === 'usr_audit_7'),
      );
    },
    60_000,
  );
});

describe('member-roles import', () => {
  onPostgresPass(
    'a 1,000-row CSV killed half-way and run again: exactly 1,000 members, each added once',
    async () => {
      const org = await createOrg(ctx);
      const file = join(scratch, 'people.csv');
      const rows = Array.from({ length: 1000 }, (_, i) => {
        const id = String(i).padStart(4, '0');
        // Quoted fields, a comma in a name, a role on some rows, the default role on the others.
        return `usr_imp_${id},imp${id}@example.test,"Person ${id}, Esq.",${i % 4 === 0 ? 'viewer' : ''}`;
      });
      writeFileSync(file, `userId,email,name,roleId\n${rows.join('\n')}\n`);

      const first = startCli(cli.main, ['import', org.orgId, file], as(org));
      for (let i = 0; (await stored(org.orgId)).members < 300; i += 1) {
        if (i > 600) throw new Error('the import did not get going');
        await sleep(50);
      }
      first.child.kill('SIGKILL');
      const killed = await first.done;
      expect(killed.signal).toBe('SIGKILL');
      const between = await stored(org.orgId);
      expect(between.members).toBeLessThan(1001);

      const second = await runCli(cli.main, ['--json', 'import', org.orgId, file], as(org));
      expect(second.code).toBe(0);
      const summary = JSON.parse(second.stdout) as Record<string, unknown>;
      // Every row answered as added: the rows sent before the kill were recognised by their
      // idempotency keys (a replay), not refused as existing members.
      expect(summary).toMatchObject({
        rows: 1000,
        added: 1000,
        existing: 0,
        failed: 0,
        failures: [],
      });
      // 1,000 imported members and the owner; one member.added event per member, none twice.
      expect(await stored(org.orgId)).toEqual({
        members: 1001,
        addedEvents: 1000,
        addedDistinct: 1000,
      });
      const { data } = await org.owner.client.GET('/v1/organizations/{orgId}/members/{userId}', {
        params: { path: { orgId: org.orgId, userId: 'usr_imp_0004' } },
      });
      expect(data).toMatchObject({ user: { name: 'Person 0004, Esq.' }, role: { id: 'viewer' } });
    },
    60_000,
  );

  onPGlitePass(
    'rows the service refuses are listed with their line, the others are added, and the exit code is 1',
    async () => {
      const org = await createOrg(ctx);
      const file = join(scratch, 'mixed.csv');
      writeFileSync(
        file,
        'email,userId,roleId\nok1@example.test,usr_ok1,\nnot-an-email,usr_bad,\nok2@example.test,usr_ok2,owner\nok3@example.test,usr_ok3,admin\n',
      );
      const run = await runCli(cli.main, ['import', org.orgId, file], as(org));
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/4 of 4 rows in [\d.]+ s: 2 added, 0 already members, 2 failed/);
      expect(run.stdout).toMatch(/line 3 \(usr_bad\): VALIDATION_FAILED \(400\)/);
      expect(run.stdout).toMatch(
        /line 4 \(usr_ok2\): VALIDATION_FAILED \(400\) Nobody joins as owner/,
      );
      // Run again: the two added rows are replays, the two refused are refused again.
      const again = await runCli(cli.main, ['--json', 'import', org.orgId, file], as(org));
      expect(JSON.parse(again.stdout)).toMatchObject({ rows: 4, added: 2, existing: 0, failed: 2 });
      // A file without the required columns is refused before anything is sent.
      writeFileSync(join(scratch, 'bad.csv'), 'user,mail\nu,m\n');
      const bad = await runCli(cli.main, ['import', org.orgId, join(scratch, 'bad.csv')], as(org));
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown: user, mail; missing: userId, email/);
    },
  );

  onPGlitePass(
    'Ctrl-C stops sending, lets the rows in flight finish, says how to resume and exits 130; the re-run completes',
    async () => {
      const org = await createOrg(ctx);
      const file = join(scratch, 'interrupted.csv');
      const lines = Array.from({ length: 300 }, (_, i) => `usr_int_${i},int${i}@example.test`);
      writeFileSync(file, `userId,email\n${lines.join('\n')}\n`);
      const count = async () =>
        (
          await ctx.service.database.db
            .selectFrom('memberships')
            .where('org_id', '=', org.orgId)
            .select(sql<number>`count(*)::int`.as('n'))
            .executeTakeFirstOrThrow()
        ).n;
      const first = startCli(cli.main, ['--json', 'import', org.orgId, file], as(org));
      for (let i = 0; (await count()) < 30; i += 1) {
        if (i > 600) throw new Error('the import did not get going');
        await sleep(50);
      }
      first.child.kill('SIGINT');
      const stopped = await first.done;
      expect(stopped.code).toBe(130);
      const summary = JSON.parse(stopped.stdout) as { added: number; interrupted: boolean };
      expect(summary).toMatchObject({ rows: 300, existing: 0, failed: 0, interrupted: true });
      expect(summary.added).toBeLessThan(300);
      // Every row it reports as added is stored (the owner is the one more), and no other.
      expect(await count()).toBe(summary.added + 1);

      const human = await runCli(cli.main, ['import', org.orgId, file], as(org));
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        /300 of 300 rows in [\d.]+ s: 300 added, 0 already members, 0 failed\n$/,
      );
      expect(await count()).toBe(301);
    },
    60_000,
  );
});
