// Starts that cannot succeed say why and exit 1 before touching any data; the embedded data
// directory belongs to one process; WEB_CONCURRENCY runs several server processes on PostgreSQL.
// Each test runs the real service as a process of its own (`node server/main.js`).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { onPostgres, scratchDatabase } from './support/database.js';
import { freePort, startPrivatePostgres } from './support/private-postgres.js';
import {
  compileService,
  spawnProcess,
  spawnService,
  type ServiceProcess,
} from './support/service-process.js';
import { halfSentRoleChange, seedOrg } from './support/writers.js';

let compiled: { main: string; remove(): void };
let scratchDir: string;
beforeAll(async () => {
  compiled = await compileService();
  scratchDir = mkdtempSync(join(tmpdir(), 'member-roles-startup-'));
});
afterAll(() => {
  compiled.remove();
  rmSync(scratchDir, { recursive: true, force: true });
});

// The embedded database's cases run on the PGlite pass, the server's on the PostgreSQL pass.
const onPGlitePass = onPostgres ? test.skip : test;
const onPostgresPass = onPostgres ? test : test.skip;

/** Runs the service until it exits on its own (it must, within 15 s); its exit code and output. */
async function failedStart(env: Record<string, string>) {
  const started = spawnProcess(compiled.main, env);
  const timer = setTimeout(() => started.child.kill('SIGKILL'), 15_000);
  const exit = await started.exited;
  clearTimeout(timer);
  return { code: exit.code, output: started.output() };
}

describe('a start that cannot succeed names the cause and exits 1', () => {
  onPGlitePass(
    'a port already in use: "port N is in use", and the data directory is never made',
    async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const { port } = taken.address() as { port: number };
      const dataDir = join(scratchDir, 'port-in-use');
      try {
        const { code, output } = await failedStart({
          PORT: String(port),
          DATABASE_URL: `file:${dataDir}`,
        });
        expect(code).toBe(1);
        expect(output).toContain(`member-roles could not start: port ${port} is in use`);
        expect(existsSync(dataDir)).toBe(false);
        expect(existsSync(`${dataDir}.lock`)).toBe(false);
      } finally {
        taken.close();
      }
    },
  );

  test('a PostgreSQL port where nothing listens: the connection error, the address, no password', async () => {
    const port = await freePort();
    const { code, output } = await failedStart({
      DATABASE_URL: `postgres://app:s3cret-password@127.0.0.1:${port}/member_roles`,
    });
    expect(code).toBe(1);
    expect(output).toContain(
      `member-roles could not start: could not connect to the database at postgres://127.0.0.1:${port}/member_roles: connect ECONNREFUSED`,
    );
    expect(output).not.toContain('s3cret-password');
  });

  onPostgresPass(
    "a database that does not exist: PostgreSQL's own message, naming it",
    async () => {
      const url = new URL(process.env.DATABASE_URL!);
      url.pathname = '/no_such_database_here';
      url.password = 's3cret-password';
      const { code, output } = await failedStart({ DATABASE_URL: url.toString() });
      expect(code).toBe(1);
      expect(output).toMatch(
        /could not start: could not connect to the database at postgres:\/\/[^ ]+\/no_such_database_here: database "no_such_database_here" does not exist/,
      );
      expect(output).not.toContain('s3cret-password');
    },
  );

  onPostgresPass(
    "a wrong password: PostgreSQL's own message, without the password",
    async () => {
      // The shared test server trusts every connection: a private one asks this role for its
      // password.
      const server = await startPrivatePostgres();
      try {
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        try {
          await admin.query(`create role app login password 'the-right-password'`);
          const { rows } = await admin.query<{ hba_file: string }>('show hba_file');
          writeFileSync(
            rows[0]!.hba_file,
            'host all app 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n',
          );
          await admin.query('select pg_reload_conf()');
        } finally {
          await admin.end();
        }
        const url = new URL(server.url);
        url.username = 'app';
        url.password = 'a-wrong-password';
        const { code, output } = await failedStart({ DATABASE_URL: url.toString() });
        expect(code).toBe(1);
        expect(output).toMatch(
          /could not start: could not connect to the database at postgres:\/\/127\.0\.0\.1:\d+\/[a-z_]+: password authentication failed for user "app"/,
        );
        expect(output).not.toContain('a-wrong-password');
      } finally {
        await server.remove();
      }
    },
    60_000,
  );
});

describe('the embedded data directory belongs to one process', () => {
  onPGlitePass(
    "a second process on the same data directory is refused, naming the first one's pid; the first keeps serving",
    async () => {
      const dataDir = join(scratchDir, 'shared');
      let first: ServiceProcess | undefined;
      try {
        first = await spawnService(compiled.main, { DATABASE_URL: `file:${dataDir}` });
        expect(readFileSync(`${dataDir}.lock`, 'utf8').trim()).toBe(String(first.child.pid));
        const { code, output } = await failedStart({ DATABASE_URL: `file:${dataDir}` });
        expect(code).toBe(1);
        expect(output).toContain(
          `member-roles could not start: the data directory ${dataDir} is in use by another process (pid ${first.child.pid})`,
        );
        const health = await fetch(`${first.url}/readyz`);
        expect(health.status).toBe(200);
        await first.stop();
        expect((await first.exited).code).toBe(0);
        // Released at a clean stop.
        expect(existsSync(`${dataDir}.lock`)).toBe(false);
      } finally {
        await first?.stop();
      }
    },
    60_000,
  );

  onPGlitePass(
    'a lock left by a process that no longer runs is taken over',
    async () => {
      const dataDir = join(scratchDir, 'stale');
      // A pid that surely ran and surely has exited.
      const gone = spawn(process.execPath, ['-e', '']);
      await new Promise((resolve) => gone.once('exit', resolve));
      writeFileSync(`${dataDir}.lock`, `${gone.pid}\n`);
      let service: ServiceProcess | undefined;
      try {
        service = await spawnService(compiled.main, { DATABASE_URL: `file:${dataDir}` });
        expect(readFileSync(`${dataDir}.lock`, 'utf8').trim()).toBe(String(service.child.pid));
      } finally {
        await service?.stop();
      }
    },
    60_000,
  );

  onPGlitePass('WEB_CONCURRENCY on PGlite is refused, naming PostgreSQL', async () => {
    const dataDir = join(scratchDir, 'concurrency');
    const { code, output } = await failedStart({
      DATABASE_URL: `file:${dataDir}`,
      WEB_CONCURRENCY: '2',
    });
    expect(code).toBe(1);
    expect(output).toContain(
      "member-roles could not start: WEB_CONCURRENCY=2 needs PostgreSQL (DATABASE_URL=postgres://…): PGlite's data directory belongs to one process",
    );
    expect(existsSync(dataDir)).toBe(false);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WEB_CONCURRENCY=N on PostgreSQL', () => {
  onPostgresPass(
    'two server processes answer requests; SIGTERM lets a request in flight finish, and the primary exits 0 within 10 s',
    async () => {
      const scratch = await scratchDatabase();
      let service: ServiceProcess | undefined;
      try {
        service = await spawnService(compiled.main, {
          DATABASE_URL: scratch.url,
          WEB_CONCURRENCY: '2',
        });
        const pids = /Server processes: 2 \(WEB_CONCURRENCY; pids (\d+), (\d+)\)/.exec(
          service.output(),
        );
        expect(pids).not.toBeNull();
        const org = await seedOrg(service.url, 4);
        // New connections are spread over the processes (round robin): both answer.
        const answers = await Promise.all(
          Array.from({ length: 20 }, () =>
            fetch(`${service!.url}/v1/organizations/${org.orgId}/members`, {
              headers: { Authorization: `Bearer ${org.ownerKey}`, Connection: 'close' },
            }).then((res) => res.status),
          ),
        );
        expect(answers.every((status) => status === 200)).toBe(true);
        const answeredBy = new Set(
          service
            .logs()
            .filter((line) => line.msg === 'request' && line.operationId === 'listMembers')
            .map((line) => String(line.pid)),
        );
        expect([...answeredBy].sort()).toEqual([pids![1], pids![2]].sort());

        // A request in flight when the signal comes: its body is still on its way.
        const agent = new Agent({ keepAlive: true });
        const slow = halfSentRoleChange(service.url, org, agent);
        await sleep(500);
        const signalled = Date.now();
        service.child.kill('SIGTERM');
        await sleep(300);
        slow.finish();
        const answer = await slow.outcome;
        const exit = await service.exited;
        agent.destroy();

        expect(answer).toMatchObject({ kind: 'answered', status: 200, connection: 'close' });
        expect(exit.code).toBe(0);
        expect(exit.at - signalled).toBeLessThan(10_000);
        const stopped = service.logs().filter((line) => line.msg === 'stopped');
        // Both server processes drained (nothing cut), then the primary stopped cleanly.
        expect(stopped.filter((line) => line.cut === 0)).toHaveLength(2);
        expect(stopped.find((line) => line.role === 'primary')).toMatchObject({ clean: true });
        // The change that was in flight was made.
        const db = new pg.Client({ connectionString: scratch.url });
        await db.connect();
        const { rows } = await db.query<{ role_id: string }>(
          'select role_id from memberships where org_id = $1 and user_id = $2',
          [org.orgId, org.userIds[0]],
        );
        await db.end();
        expect(rows[0]!.role_id).toBe('viewer');
      } finally {
        await service?.stop();
        await scratch.drop();
      }
    },
    60_000,
  );

  onPostgresPass(
    'a server process that dies is logged and replaced; the others answer meanwhile, and SIGTERM still exits 0',
    async () => {
      const scratch = await scratchDatabase();
      let service: ServiceProcess | undefined;
      try {
        service = await spawnService(compiled.main, {
          DATABASE_URL: scratch.url,
          WEB_CONCURRENCY: '2',
        });
        const [, victim, survivor] = /pids (\d+), (\d+)\)/.exec(service.output())!;
        process.kill(Number(victim), 'SIGKILL');
        const logged = (msg: string) => service!.logs().some((l) => l.msg === msg);
        for (let i = 0; !logged('a server process exited unexpectedly; starting another'); i += 1) {
          if (i > 200) throw new Error(`the exit was not noticed:\n${service.output()}`);
          await sleep(50);
        }
        // (A connection the primary handed to the process as it died would be lost with it, as
        // with any server process that crashes; from here on, the survivor takes them all.)
        const health = await fetch(`${service.url}/readyz`, { headers: { Connection: 'close' } });
        expect(health.status).toBe(200);
        for (let i = 0; !logged('the replacement server process is ready'); i += 1) {
          if (i > 300) throw new Error(`no replacement:\n${service.output()}`);
          await sleep(50);
        }
        const exited = service
          .logs()
          .find((l) => l.msg === 'a server process exited unexpectedly; starting another');
        expect(exited).toMatchObject({ role: 'primary', pid: Number(victim), signal: 'SIGKILL' });
        const readyPids = service
          .logs()
          .filter((l) => l.msg === 'ready' && l.pid !== undefined)
          .map((l) => String(l.pid));
        expect(readyPids).toHaveLength(3);
        const replacement = readyPids.find((pid) => pid !== victim && pid !== survivor)!;
        // Both the survivor and the replacement answer.
        await Promise.all(
          Array.from({ length: 20 }, () =>
            fetch(`${service!.url}/healthz`, { headers: { Connection: 'close' } }).then((r) =>
              expect(r.status).toBe(200),
            ),
          ),
        );
        const answeredBy = new Set(
          service
            .logs()
            .filter((l) => l.msg === 'request' && l.operationId === 'getHealth')
            .map((l) => String(l.pid)),
        );
        expect(answeredBy).toEqual(new Set([survivor, replacement]));
        service.child.kill('SIGTERM');
        expect((await service.exited).code).toBe(0);
      } finally {
        await service?.stop();
        await scratch.drop();
      }
    },
    60_000,
  );

  onPostgresPass(
    'a server process that cannot start fails the whole start with its reason, exit 1',
    async () => {
      const url = new URL(process.env.DATABASE_URL!);
      url.pathname = '/no_such_database_here';
      const { code, output } = await failedStart({
        DATABASE_URL: url.toString(),
        WEB_CONCURRENCY: '2',
      });
      expect(code).toBe(1);
      expect(output).toMatch(
        /member-roles could not start: could not connect to the database at postgres:\/\/[^ ]+\/no_such_database_here: database "no_such_database_here" does not exist/,
      );
      // Said once, by the primary.
      expect(output.match(/could not start/g)).toHaveLength(1);
    },
  );
});
