import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, scratchDatabase } from './support/database.js';
import {
  TEST_PLATFORM_KEY,
  compileService,
  spawnProcess,
  spawnService,
  type ServiceProcess,
} from './support/service-process.js';

// The platform key of processes sharing one PostgreSQL database (`node server/main.js`).
let compiled: { main: string; remove(): void };
beforeAll(async () => {
  compiled = await compileService();
});
afterAll(() => compiled.remove());

describe('the platform key on PostgreSQL', () => {
  test('without MEMBER_ROLES_PLATFORM_KEY a start on PostgreSQL fails, says why, and prints no key', async () => {
    // Refused before any connection is made: no server needs to listen at this address.
    const started = spawnProcess(compiled.main, {
      DATABASE_URL: 'postgres://app:pa55w0rd-xyz@127.0.0.1:1/member_roles',
      MEMBER_ROLES_PLATFORM_KEY: '',
    });
    const { code } = await started.exited;
    expect(code).not.toBe(0);
    expect(started.output()).toContain('MEMBER_ROLES_PLATFORM_KEY is required on PostgreSQL');
    expect(started.output()).not.toMatch(/mrk_|Platform key/);
    expect(started.output()).not.toContain('pa55w0rd-xyz');
  });

  (onPostgres ? test : test.skip)(
    'two processes on one database agree: the platform key and keys minted through one work on the other',
    async () => {
      const database = await scratchDatabase();
      const processes: ServiceProcess[] = [];
      try {
        const env = { DATABASE_URL: database.url };
        processes.push(await spawnService(compiled.main, env));
        processes.push(await spawnService(compiled.main, env));
        const a = processes[0]!;
        const platform = {
          Authorization: `Bearer ${TEST_PLATFORM_KEY}`,
          'content-type': 'application/json',
        };
        const created = await fetch(`${a.url}/v1/organizations`, {
          method: 'POST',
          headers: platform,
          body: JSON.stringify({
            name: 'Agreed',
            slug: 'agreed',
            owner: { userId: 'usr_owner', email: 'owner@example.test' },
          }),
        });
        expect(created.status).toBe(201);
        const { organization, apiKey } = (await created.json()) as {
          organization: { id: string };
          apiKey: { secret: string };
        };
        for (const p of processes) {
          const read = await fetch(`${p.url}/v1/organizations/${organization.id}`, {
            headers: platform,
          });
          expect(read.status).toBe(200);
          const me = await fetch(`${p.url}/v1/organizations/${organization.id}/me`, {
            headers: { Authorization: `Bearer ${apiKey.secret}` },
          });
          expect(me.status).toBe(200);
          const wrong = await fetch(`${p.url}/v1/organizations/${organization.id}`, {
            headers: { Authorization: 'Bearer another-platform-key-0123456789' },
          });
          expect(wrong.status).toBe(401);
          // Nothing any process wrote holds a key.
          expect(p.output()).not.toContain(TEST_PLATFORM_KEY);
          expect(p.output()).not.toMatch(/mrk_/);
        }
      } finally {
        await Promise.all(processes.map((p) => p.stop()));
        await database.drop();
      }
    },
  );
});
