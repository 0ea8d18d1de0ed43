import { Agent, request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { onPostgres, scratchDatabase } from './support/database.js';
import {
  compileService,
  spawnProcess,
  spawnService,
  type ServiceProcess,
} from './support/service-process.js';
import { halfSentRoleChange, seedOrg } from './support/writers.js';

// The service's start and stop, as a process of its own (`node server/main.js`).
let compiled: { main: string; remove(): void };
beforeAll(async () => {
  compiled = await compileService();
});
afterAll(() => compiled.remove());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Outcome =
  | { kind: 'answered'; at: number; status: number; connection: string | undefined }
  /** Refused before the service read it: no listener, or a keep-alive connection it had closed. */
  | { kind: 'refused'; at: number; how: string }
  | { kind: 'failed'; at: number; error: string; reused: boolean };

/** One request over a keep-alive agent, classified by what the client saw. */
function send(
  agent: Agent,
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { agent, method, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          kind: 'answered',
          at: Date.now(),
          status: res.statusCode!,
          connection: res.headers.connection,
        }),
      );
      res.on('error', (error) =>
        resolve({ kind: 'failed', at: Date.now(), error: String(error), reused: req.reusedSocket }),
      );
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      const at = Date.now();
      if (error.code === 'ECONNREFUSED') resolve({ kind: 'refused', at, how: 'connect' });
      // Node's own rule: a request on a reused keep-alive socket that the server closed before
      // reading it fails with ECONNRESET and is safe to send again. A new connection still in
      // the kernel's queue when the service stops listening is reset the same way, unread.
      // (That the service read none of these is checked on its side: nothing cut, and every
      // request it logged was answered here.)
      else if (error.code === 'ECONNRESET') {
        resolve({ kind: 'refused', at, how: 'reset before any answer' });
      } else resolve({ kind: 'failed', at, error: String(error), reused: req.reusedSocket });
    });
    req.end(body);
  });
}

describe('shutdown', () => {
  test('SIGTERM under keep-alive load: exit 0 within 10 s, every request answered or refused before it was read, in-flight answers say Connection: close', async () => {
    const scratch = await scratchDatabase();
    let service: ServiceProcess | undefined;
    try {
      service = await spawnService(compiled.main, { DATABASE_URL: scratch.url });
      const org = await seedOrg(service.url, 16);
      // One request is surely in flight when the signal comes: its body is still on its way (it is
      // sent while the service is idle, so that the service has surely read its headers).
      const slowAgent = new Agent({ keepAlive: true });
      const slow = halfSentRoleChange(service.url, org, slowAgent);
      await sleep(500);
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const outcomes: Outcome[] = [];
      const loops = org.userIds.map(async (userId, i) => {
        const path = `/v1/organizations/${org.orgId}/members/${userId}`;
        const headers = { Authorization: `Bearer ${org.ownerKey}` };
        for (let n = 0; ; n += 1) {
          // Reads and writes, so that some requests are always waiting on the database.
          const outcome =
            (n + i) % 4 !== 0
              ? await send(agent, service!.url, 'GET', path, headers)
              : await send(
                  agent,
                  service!.url,
                  'PUT',
                  `${path}/role`,
                  { ...headers, 'content-type': 'application/json' },
                  JSON.stringify({ roleId: n % 4 < 2 ? 'viewer' : 'member' }),
                );
          outcomes.push(outcome);
          if (outcome.kind === 'refused' && outcome.how === 'connect') return;
          // (A reset connection is followed by a new one, refused at connect once the service
          // has stopped listening.)
          if (outcome.kind === 'failed') return;
        }
      });
      // Every connection is in use (each loop has had an answer) before the signal.
      while (outcomes.filter((o) => o.kind === 'answered').length < 32) await sleep(20);
      const signalled = Date.now();
      service.child.kill('SIGTERM');
      await sleep(300);
      slow.finish();
      const exit = await service.exited;
      await Promise.all(loops);
      const inFlight = await slow.outcome;
      agent.destroy();
      slowAgent.destroy();

      expect(exit.code).toBe(0);
      expect(exit.at - signalled).toBeLessThan(10_000);
      expect(outcomes.filter((o) => o.kind === 'failed')).toEqual([]);
      const answered = outcomes.filter((o) => o.kind === 'answered');
      for (const o of answered) expect([200]).toContain(o.status);
      // After the signal: the requests in flight, and at most one more per connection, each told
      // the connection closes; not a stream of requests served on the old connections.
      const late = answered.filter((o) => o.at >= signalled);
      expect(late.length).toBeLessThanOrEqual(2 * 16);
      // The request in flight was finished, and told the connection closes.
      expect(inFlight).toMatchObject({ kind: 'answered', status: 200, connection: 'close' });
      // Nothing was cut: the log says so, and every request the service read (and logged) was
      // answered here: the load's GETs and PUTs, and the slow one.
      const stopped = service.logs().find((line) => line.msg === 'stopped');
      expect(stopped).toMatchObject({ cut: 0 });
      const served = service
        .logs()
        .filter((line) => line.msg === 'request' && ['GET', 'PUT'].includes(String(line.method)));
      expect(served.length).toBe(answered.length + 1);
    } finally {
      await service?.stop();
      await scratch.drop();
    }
  }, 60_000);

  (onPostgres ? test : test.skip)(
    'a request still running at the shutdown deadline is cut, the log says how many, and the process still exits 0',
    async () => {
      const scratch = await scratchDatabase();
      let service: ServiceProcess | undefined;
      const locker = new pg.Client({ connectionString: scratch.url });
      try {
        service = await spawnService(compiled.main, {
          DATABASE_URL: scratch.url,
          SHUTDOWN_TIMEOUT_MS: '2000',
        });
        const org = await seedOrg(service.url, 1);
        // The organization's lock is held here, so a change to it waits.
        await locker.connect();
        await locker.query('begin');
        await locker.query('select 1 from organizations where id = $1 for update', [org.orgId]);
        const agent = new Agent({ keepAlive: true });
        const stuck = send(
          agent,
          service.url,
          'PUT',
          `/v1/organizations/${org.orgId}/members/${org.userIds[0]}/role`,
          { Authorization: `Bearer ${org.ownerKey}`, 'content-type': 'application/json' },
          JSON.stringify({ roleId: 'viewer' }),
        );
        for (let i = 0; i < 100; i += 1) {
          const { rows } = await locker.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'`,
          );
          if (rows[0]!.n > 0) break;
          await sleep(20);
        }
        const signalled = Date.now();
        service.child.kill('SIGTERM');
        const exit = await service.exited;
        const outcome = await stuck;
        agent.destroy();

        expect(exit.code).toBe(0);
        expect(exit.at - signalled).toBeGreaterThanOrEqual(1000);
        expect(exit.at - signalled).toBeLessThan(4000);
        // Cut: the connection was reset without an answer.
        expect(outcome.kind).not.toBe('answered');
        const cut = service.logs().find((line) => line.msg === 'stopped');
        expect(cut).toMatchObject({ cut: 1 });
        expect(service.output()).toMatch(/cut 1 request\(s\) still running at the deadline/);
        // The change that was cut never committed.
        await locker.query('rollback');
        const { rows } = await locker.query<{ role_id: string }>(
          'select role_id from memberships where org_id = $1 and user_id = $2',
          [org.orgId, org.userIds[0]],
        );
        expect(rows[0]!.role_id).toBe('member');
      } finally {
        await locker.end().catch(() => undefined);
        await service?.stop();
        await scratch.drop();
      }
    },
    60_000,
  );
});

describe('start', () => {
  test('a database that accepts connections but never answers fails the start within 10 s, naming it', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const process = spawnProcess(compiled.main, {
        DATABASE_URL: `postgres://app:secret@127.0.0.1:${port}/member_roles`,
      });
      const timer = setTimeout(() => process.child.kill('SIGKILL'), 15_000);
      const exit = await process.exited;
      clearTimeout(timer);
      expect(exit.code).toBe(1);
      expect(exit.at - started).toBeLessThan(10_000);
      expect(process.output()).toMatch(
        new RegExp(`could not start: .*postgres://127\\.0\\.0\\.1:${port}/member_roles`),
      );
      expect(process.output()).toMatch(/did not answer within 5 s/);
      // The password is not printed.
      expect(process.output()).not.toContain('secret');
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 30_000);
});
