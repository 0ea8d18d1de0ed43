import { createMemberRolesClient, type MemberRolesClient } from '../../client/index.js';
import type { Logger } from 'pino';
import { readConfig, type Config } from '../../server/config.js';
import { startService, type RunningService, type ServiceOptions } from '../../server/service.js';
import { migratedPgliteSnapshot, onPostgres, scratchDatabase } from './database.js';

export const PLATFORM_KEY = 'test-platform-key-0123456789abcdef';
export { onPostgres };

export interface TestContext {
  service: RunningService;
  /** The scratch database this service uses (for a second process on the same data). */
  databaseUrl: string;
  url: string;
  /** A client with the given key (or none). */
  client(apiKey?: string): MemberRolesClient;
  platform: MemberRolesClient;
  stop(): Promise<void>;
}

/** A clock a test moves by hand (`advance`), for expiry without sleeping. */
export function testClock(start = Date.now()) {
  let at = start;
  return {
    now: () => new Date(at),
    advance: (ms: number) => {
      at += ms;
    },
  };
}

/** A service on a scratch database; `logger` receives its logs (silent without one). */
export async function startTestService(
  overrides: Partial<Config> = {},
  logger?: Logger,
  options: ServiceOptions = {},
): Promise<TestContext> {
  const database = await scratchDatabase();
  const service = await startService(
    {
      ...readConfig({}),
      port: 0,
      host: '127.0.0.1',
      databaseUrl: database.url,
      platformKey: PLATFORM_KEY,
      demo: false,
      rateLimitPerMinute: 0,
      logLevel: 'silent',
      production: false,
      // No test resolves a real name, and no delivery leaves the machine: names resolve to a
      // documentation address (TEST-NET-3), and only tests with a local receiver turn delivery on.
      webhookDelivery: false,
      webhookResolver: () => Promise.resolve([{ address: '203.0.113.10', family: 4 }]),
      ...(logger ? { logLevel: 'info' } : {}),
      ...overrides,
    },
    logger,
    { ...options, pgliteSnapshot: options.pgliteSnapshot ?? (await migratedPgliteSnapshot()) },
  );
  const client = (apiKey?: string) =>
    createMemberRolesClient({ baseUrl: service.url, ...(apiKey ? { apiKey } : {}), retries: 0 });
  return {
    service,
    databaseUrl: database.url,
    url: service.url,
    client,
    platform: client(PLATFORM_KEY),
    stop: async () => {
      await service.stop();
      await database.drop();
    },
  };
}
