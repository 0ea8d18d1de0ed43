import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, scratchDatabase } from './support/database.js';
import { parseExposition } from './support/prometheus.js';
import {
  TEST_PLATFORM_KEY,
  compileService,
  spawnService,
  type ServiceProcess,
} from './support/service-process.js';
import { startReceiver } from './support/webhook-receiver.js';

// Webhooks across real server processes (`node server/main.js`): the outbox survives a killed
// process, and on PostgreSQL several processes share one delivery queue and one event stream.
let compiled: { main: string; remove(): void };
beforeAll(async () => {
  compiled = await compileService();
});
afterAll(() => compiled.remove());

const webhookEnv = {
  MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE: '1',
  MEMBER_ROLES_WEBHOOK_RETRY_SCHEDULE: '0.2,0.2,0.2',
  MEMBER_ROLES_WEBHOOK_TIMEOUT_MS: '1000',
};

const platform = {
  Authorization: `Bearer ${TEST_PLATFORM_KEY}`,
  'content-type': 'application/json',
};

async function call(base: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, any>) : {}; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function createOrganization(base: string, slug: string) {
  const res = await fetch(`${base}/v1/organizations`, {
    method: 'POST',
    headers: platform,
    body: JSON.stringify({
      name: slug,
      slug,
      owner: { userId: 'usr_owner', email: 'o@example.test' },
    }),
  });
  const created = (await res.json()) as {
    organization: { id: string };
    apiKey: { secret: string };
  };
  return { orgId: created.organization.id, key: created.apiKey.secret };
}

/** A database for processes: a scratch PostgreSQL database, or a PGlite data directory. */
async function processDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (onPostgres) return scratchDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'member-roles-webhooks-'));
  return {
    url: `file:${join(dir, 'data')}`,
    drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

describe('the transactional outbox across processes', () => {
  test('a change committed by a process killed before delivering it is delivered after a restart; a process killed while sending leaves the delivery to the next', async () => {
    const database = await processDatabase();
    let hang = false;
    const receiver = await startReceiver((_r, res) => {
      if (hang) return; // never answers
      res.statusCode = 204;
      res.end();
    });
    const started: ServiceProcess[] = [];
    const start = async (env: Record<string, string>) => {
      const p = await spawnService(compiled.main, {
        DATABASE_URL: database.url,
        ...webhookEnv,
        ...env,
      });
      started.push(p);
      return p;
    };
    try {
      // 1. Committed, never sent: this process runs no worker, and is killed at once.
      const first = await start({ MEMBER_ROLES_WEBHOOK_DELIVERY: '0' });
      const org = await createOrganization(first.url, 'outbox');
      await call(first.url, org.key, 'POST', `/v1/organizations/${org.orgId}/webhook-endpoints`, {
        url: receiver.url,
        events: ['member.added'],
      });
      const added = await call(
        first.url,
        org.key,
        'POST',
        `/v1/organizations/${org.orgId}/members`,
        {
          userId: 'usr_committed',
          email: 'c@example.test',
        },
      );
      expect(added.userId).toBe('usr_committed');
      first.child.kill('SIGKILL');
      await first.exited;
      expect(receiver.received).toHaveLength(0);

      const second = await start({});
      const [delivered] = await receiver.waitFor(1);
      expect(JSON.parse(delivered!.body).data).toMatchObject({
        action: 'member.added',
        targetUserId: 'usr_committed',
      });

      // 2. Killed while the receiver has the request and has not answered.
      hang = true;
      await call(second.url, org.key, 'POST', `/v1/organizations/${org.orgId}/members`, {
        userId: 'usr_in_flight',
        email: 'f@example.test',
      });
      const [, inFlight] = await receiver.waitFor(2);
      second.child.kill('SIGKILL');
      await second.exited;
      hang = false;
      const third = await start({});
      // Sent again once the dead worker's lease ends, with the same webhook-id.
      const [, , again] = await receiver.waitFor(3, 20_000);
      expect(again!.headers['webhook-id']).toBe(inFlight!.headers['webhook-id']);
      expect(JSON.parse(again!.body).data.targetUserId).toBe('usr_in_flight');
      await third.stop();
    } finally {
      await Promise.all(started.map((p) => p.stop(2000)));
      await receiver.stop();
      await database.drop();
    }
  }, 90_000);

  test('shutdown waits for the deliveries in flight', async () => {
    const database = await processDatabase();
    const receiver = await startReceiver((_r, res) => {
      setTimeout(() => {
        res.statusCode = 204;
        res.end();
      }, 600);
    });
    try {
      const p = await spawnService(compiled.main, {
        DATABASE_URL: database.url,
        ...webhookEnv,
        MEMBER_ROLES_WEBHOOK_TIMEOUT_MS: '5000',
      });
      const org = await createOrganization(p.url, 'shutdown');
      await call(p.url, org.key, 'POST', `/v1/organizations/${org.orgId}/webhook-endpoints`, {
        url: receiver.url,
        events: ['member.added'],
      });
      await call(p.url, org.key, 'POST', `/v1/organizations/${org.orgId}/members`, {
        userId: 'usr_slow',
        email: 's@example.test',
      });
      await receiver.waitFor(1);
      const stopping = Date.now();
      await p.stop();
      const { code } = await p.exited;
      expect(code).toBe(0);
      // It waited for the receiver's answer (600 ms) and recorded it before exiting.
      expect(Date.now() - stopping).toBeGreaterThanOrEqual(300);
      const log = p.logs().find((l) => l.msg === 'webhook deliveries in flight at shutdown');
      expect(log).toMatchObject({ finished: 1, cut: 0 });
    } finally {
      await receiver.stop();
      await database.drop();
    }
  }, 60_000);
});

(onPostgres ? describe : describe.skip)('several processes on PostgreSQL', () => {
  let database: { url: string; drop(): Promise<void> };
  const processes: ServiceProcess[] = [];
  beforeAll(async () => {
    database = await scratchDatabase();
    for (let i = 0; i < 2; i += 1) {
      // A generous timeout: a receiver slow on a loaded machine must not cause a retry here.
      processes.push(
        await spawnService(compiled.main, {
          DATABASE_URL: database.url,
          ...webhookEnv,
          MEMBER_ROLES_WEBHOOK_TIMEOUT_MS: '10000',
        }),
      );
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await database.drop();
  });

  test('two processes share the queue: 200 events reach each of two endpoints exactly once', async () => {
    const receivers = [await startReceiver(), await startReceiver()];
    try {
      const [a, b] = processes as [ServiceProcess, ServiceProcess];
      const org = await createOrganization(a.url, 'shared-queue');
      for (const receiver of receivers) {
        await call(a.url, org.key, 'POST', `/v1/organizations/${org.orgId}/webhook-endpoints`, {
          url: receiver.url,
          events: ['member.added'],
        });
      }
      // 200 changes, made through both processes, ten at a time.
      const users = Array.from({ length: 200 }, (_, i) => `usr_${String(i).padStart(3, '0')}`);
      for (let i = 0; i < users.length; i += 10) {
        await Promise.all(
          users.slice(i, i + 10).map((userId, j) =>
            call(
              j % 2 === 0 ? a.url : b.url,
              org.key,
              'POST',
              `/v1/organizations/${org.orgId}/members`,
              {
                userId,
                email: `${userId}@example.test`,
              },
            ),
          ),
        );
      }
      for (const receiver of receivers) await receiver.waitFor(200, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      for (const receiver of receivers) {
        expect(receiver.received).toHaveLength(200);
        const ids = receiver.received.map((r) => String(r.headers['webhook-id']));
        expect(new Set(ids).size).toBe(200);
        const targets = receiver.received.map(
          (r) => JSON.parse(r.body).data.targetUserId as string,
        );
        expect(targets.sort()).toEqual(users);
      }
      // Each process's metrics count its own deliveries: together, 400, none twice.
      const succeeded = await Promise.all(
        processes.map(async (p) => {
          const res = await fetch(`${p.url}/metrics`, { headers: platform });
          const { samples } = parseExposition(await res.text());
          return (
            samples.find(
              (s) =>
                s.name === 'member_roles_webhook_deliveries_total' &&
                s.labels.outcome === 'succeeded',
            )?.value ?? 0
          );
        }),
      );
      expect(succeeded.reduce((x, y) => x + y, 0)).toBe(400);
      process.stdout.write(`deliveries by process: ${succeeded.join(' + ')}\n`);
    } finally {
      await Promise.all(receivers.map((r) => r.stop()));
    }
  }, 120_000);

  test('listEvents?wait=10 on one process answers within a second of a change made through another', async () => {
    const [a, b] = processes as [ServiceProcess, ServiceProcess];
    const org = await createOrganization(a.url, 'stream');
    const { lastEventId } = await call(
      a.url,
      org.key,
      'GET',
      `/v1/organizations/${org.orgId}/events`,
    );
    const held = call(
      a.url,
      org.key,
      'GET',
      `/v1/organizations/${org.orgId}/events?after=${lastEventId}&wait=10`,
    ).then((answer) => ({ answer, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const changedAt = Date.now();
    await call(b.url, org.key, 'POST', `/v1/organizations/${org.orgId}/members`, {
      userId: 'usr_elsewhere',
      email: 'e@example.test',
    });
    const { answer, at } = await held;
    expect(at - changedAt).toBeLessThan(1000);
    const events = answer.data as { targetUserId: string }[];
    expect(events.map((e) => e.targetUserId)).toEqual(['usr_elsewhere']);
  }, 30_000);
});
