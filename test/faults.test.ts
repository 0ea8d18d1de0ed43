import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { onPostgres, scratchDatabase } from './support/database.js';
import { startPrivatePostgres } from './support/private-postgres.js';
import { compileService, spawnService, type ServiceProcess } from './support/service-process.js';
import { runWriters, seedOrg, type SeededOrg, type WritersResult } from './support/writers.js';

// Fault trials against PostgreSQL: the service runs as a process of its own, so that a crash
// shows as its exit rather than as this test runner's.
const onPostgresOnly = onPostgres ? describe : describe.skip;

let compiled: { main: string; remove(): void };
beforeAll(async () => {
  compiled = await compileService();
});
afterAll(() => compiled.remove());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function query<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** `member.role_changed` events per member of the organization, as the database holds them. */
async function roleChanges(url: string, orgId: string): Promise<Map<string, number>> {
  const rows = await query<{ target_user_id: string; n: number }>(
    url,
    `select target_user_id, count(*)::int as n from audit_events
      where org_id = $1 and action = 'member.role_changed' group by target_user_id`,
    [orgId],
  );
  return new Map(rows.map((row) => [row.target_user_id, row.n]));
}

/** What every fault trial must show, whatever the fault. */
async function expectHonestAnswers(
  service: ServiceProcess,
  databaseUrl: string,
  org: SeededOrg,
  result: WritersResult,
) {
  // The process never exited, and always answered.
  expect(service.child.exitCode).toBeNull();
  expect(service.child.signalCode).toBeNull();
  expect(result.unreachable).toEqual([]);
  expect(result.unfinished).toEqual([]);
  // Every answer was the change, or a 503 with Retry-After saying which kind: never a 500.
  const others = result.answers.filter((a) => a.status !== 200 && a.status !== 503);
  expect(others.map((a) => `${a.status} ${a.body}`)).toEqual([]);
  for (const answer of result.answers.filter((a) => a.status === 503)) {
    expect(answer.retryAfter).toMatch(/^\d+$/);
    expect(['SERVICE_UNAVAILABLE', 'COMMIT_OUTCOME_UNKNOWN']).toContain(answer.code);
    // The database's own words stay in the log.
    const problem = JSON.parse(answer.body) as Record<string, unknown>;
    expect(Object.keys(problem).sort()).toEqual(
      ['code', 'detail', 'instance', 'requestId', 'status', 'title', 'type'].sort(),
    );
    expect(problem.detail).not.toMatch(/57P0|ECONN|terminat|08[0-9P]\d\d|postgres|pool/i);
  }
  // The audit trail equals the changes the clients saw acknowledged: nothing lost, nothing twice.
  const events = await roleChanges(databaseUrl, org.orgId);
  for (const userId of org.userIds) {
    expect([userId, events.get(userId) ?? 0]).toEqual([userId, result.acknowledged.get(userId)]);
  }
  // Every organization kept its one owner.
  const owners = await query<{ n: number }>(
    databaseUrl,
    `select count(*)::int as n from memberships where org_id = $1 and role_id = 'owner'`,
    [org.orgId],
  );
  expect(owners[0]!.n).toBe(1);
}

onPostgresOnly('the service and its database failing (PostgreSQL)', () => {
  test('PostgreSQL restarting under 20 writers: the process lives, outage answers are 503 with Retry-After, 2xx again within a second of its return, and the audit trail equals the acknowledged changes', async () => {
    const cluster = await startPrivatePostgres();
    let service: ServiceProcess | undefined;
    try {
      service = await spawnService(compiled.main, { DATABASE_URL: cluster.url });
      const org = await seedOrg(service.url, 20);

      // /readyz, asked every 50 ms through the trial.
      const readiness: { at: number; status: number }[] = [];
      let stop = false;
      const prober = (async () => {
        while (!stop) {
          const res = await fetch(`${service.url}/readyz`);
          readiness.push({ at: Date.now(), status: res.status });
          await res.arrayBuffer();
          await sleep(50);
        }
      })();
      const writers = runWriters(service.url, org, () => stop);

      // A restart with the database away for a second and a half.
      await sleep(1500);
      const restartBegan = Date.now();
      await cluster.stop();
      const down = Date.now();
      await sleep(1500);
      await cluster.start();
      const back = Date.now();
      await sleep(2000);
      stop = true;
      const result = await writers;
      await prober;

      await expectHonestAnswers(service, cluster.url, org, result);
      const outage = result.answers.filter((a) => a.at > restartBegan && a.at < back);
      expect(outage.some((a) => a.status === 503)).toBe(true);
      const firstOk = result.answers.find((a) => a.at > back && a.status === 200);
      expect(firstOk!.at - back).toBeLessThan(1000);
      const firstUnready = readiness.find((r) => r.at > restartBegan && r.status === 503);
      expect(firstUnready!.at - down).toBeLessThan(1000);
      const firstReady = readiness.find((r) => r.at > back && r.status === 200);
      expect(firstReady!.at - back).toBeLessThan(1000);
      // The log keeps the database's own code for each outage answer.
      const logged = service.logs().filter((line) => line.msg === 'database unavailable');
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.every((line) => typeof line.database === 'string')).toBe(true);
    } finally {
      await service?.stop();
      await cluster.remove();
    }
  }, 120_000);

  test('its connections terminated under 20 writers (pg_terminate_backend): the process lives, every answer is the change or a 503 with Retry-After, and the audit trail equals the acknowledged changes', async () => {
    const scratch = await scratchDatabase();
    const database = new URL(scratch.url).pathname.slice(1);
    let service: ServiceProcess | undefined;
    try {
      service = await spawnService(compiled.main, { DATABASE_URL: scratch.url });
      const org = await seedOrg(service.url, 20);
      let stop = false;
      const writers = runWriters(service.url, org, () => stop);

      // Only the backends of this test's own scratch database, never anyone else's.
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      let terminated = 0;
      try {
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          await sleep(100 + Math.random() * 100);
          const { rows } = await admin.query<{ ok: boolean }>(
            `select pg_terminate_backend(pid) as ok from pg_stat_activity
              where datname = $1 and pid <> pg_backend_pid()`,
            [database],
          );
          terminated += rows.filter((row) => row.ok).length;
        }
      } finally {
        await admin.end();
      }
      await sleep(500);
      stop = true;
      const result = await writers;

      expect(terminated).toBeGreaterThan(0);
      await expectHonestAnswers(service, scratch.url, org, result);
      // The service noticed: the connections broke under it, and it discarded them.
      expect(service.logs().some((line) => String(line.msg).includes('connection broke'))).toBe(
        true,
      );
      // And it serves as before.
      const after = await fetch(`${service.url}/readyz`);
      expect(after.status).toBe(200);
    } finally {
      await service?.stop();
      await scratch.drop();
    }
  }, 120_000);

  test('a connection that dies during COMMIT is answered 503 COMMIT_OUTCOME_UNKNOWN, and a replay with the same Idempotency-Key then carries the change out once', async () => {
    const scratch = await scratchDatabase();
    const database = new URL(scratch.url).pathname.slice(1);
    let service: ServiceProcess | undefined;
    try {
      service = await spawnService(compiled.main, { DATABASE_URL: scratch.url });
      const org = await seedOrg(service.url, 0);
      // Every audit event now makes COMMIT take two seconds (a deferred trigger runs at COMMIT).
      await query(
        scratch.url,
        `create function slow_commit() returns trigger language plpgsql as
           $$ begin perform pg_sleep(2); return null; end $$;
         create constraint trigger slow_commit after insert on audit_events
           deferrable initially deferred for each row execute function slow_commit();`,
      );
      const addMember = () =>
        fetch(`${service!.url}/v1/organizations/${org.orgId}/members`, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${org.ownerKey}`,
            'content-type': 'application/json',
            'Idempotency-Key': 'in-doubt',
          },
          body: JSON.stringify({ userId: 'usr_in_doubt', email: 'in-doubt@example.test' }),
        });
      const first = addMember();
      // The backend running this COMMIT is terminated while it runs.
      let killed = false;
      for (let i = 0; i < 100 && !killed; i += 1) {
        await sleep(20);
        const rows = await query<{ ok: boolean }>(
          scratch.url,
          `select pg_terminate_backend(pid) as ok from pg_stat_activity
            where datname = $1 and pid <> pg_backend_pid() and state = 'active'
              and lower(query) = 'commit'`,
          [database],
        );
        killed = rows.some((row) => row.ok);
      }
      expect(killed).toBe(true);
      const answer = await first;
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
      const problem = (await answer.json()) as { code: string; detail: string };
      expect(problem.code).toBe('COMMIT_OUTCOME_UNKNOWN');
      expect(problem.detail).toMatch(/Idempotency-Key/);

      // (Here the COMMIT was cut inside its trigger, so the change was not applied.)
      await query(scratch.url, 'drop trigger slow_commit on audit_events');
      const replay = await addMember();
      expect(replay.status).toBe(201);
      const again = await addMember();
      expect(again.status).toBe(201);
      expect(await again.json()).toEqual(await replay.json());
      const added = await query<{ n: number }>(
        scratch.url,
        `select count(*)::int as n from audit_events
          where org_id = $1 and action = 'member.added' and target_user_id = 'usr_in_doubt'`,
        [org.orgId],
      );
      expect(added[0]!.n).toBe(1);
      expect(service.child.exitCode).toBeNull();
    } finally {
      await service?.stop();
      await scratch.drop();
    }
  }, 60_000);
});
