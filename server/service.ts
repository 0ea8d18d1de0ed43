import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';
import { seedDemo, type DemoCredentials } from './demo.js';
import { loadDocuments } from './documents.js';
import { hashSecret, newSecret } from './infra/secrets.js';
import { createApp } from './http/app.js';
import { Metrics } from './infra/metrics.js';
import { RevisionCache } from './infra/revision-cache.js';
import { jwtVerifier } from './infra/tokens.js';
import { UsageRecorder } from './infra/usage.js';
import { startWebhooks } from './infra/webhooks-runtime.js';
import { listen, type DrainResult } from './http/server.js';
import { systemClock, ulidIds } from './ids.js';
import type { Clock, KeptMembersPage } from './domain/context.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from './storage/database.js';
import { classifyDatabaseError } from './storage/database-errors.js';
import {
  countOrganizations,
  getSetting,
  putSettingIfAbsent,
} from './storage/settings.repository.js';

export interface RunningService {
  url: string;
  server: Server;
  database: DatabaseHandle;
  /**
   * Set when this start generated the platform key (PGlite only; it is not stored in clear in the
   * database). On PostgreSQL the key is required.
   */
  generatedPlatformKey: string | undefined;
  demo: DemoCredentials | undefined;
  /** Where the first start's credentials are kept (embedded data directories only). */
  credentialsFile: string | undefined;
  /**
   * Drains (see `HttpServer.drain`) within the configured shutdown time, then closes the
   * database: resolves with how many requests were in flight and how many had to be cut.
   */
  stop(): Promise<DrainResult>;
}

interface SavedCredentials {
  platformKey?: string;
  demo?: DemoCredentials;
}

/** Embedded data directories keep the credentials printed at first start beside them. */
function credentialsFile(database: DatabaseHandle, config: Config): string | undefined {
  if (database.engine !== 'pglite' || !database.persistent) return undefined;
  const dir = config.databaseUrl?.startsWith('file:')
    ? config.databaseUrl.slice('file:'.length)
    : './.data/pglite';
  return `${dir.replace(/\/+$/, '')}-credentials.json`;
}

function readSaved(file: string | undefined): SavedCredentials {
  if (!file || !existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as SavedCredentials;
}

function save(file: string | undefined, saved: SavedCredentials) {
  if (!file) return;
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** What a service is given besides its configuration (tests give a clock they move). */
export interface ServiceOptions {
  /** The time every use case reads (invitation expiry, audit times); the system clock if unset. */
  clock?: Clock;
  /** For an in-memory PGlite: the dump of a data directory to start from (see `OpenOptions`). */
  pgliteSnapshot?: Blob;
}

/** On PostgreSQL the platform key is given, never made: fails saying so when it is missing. */
export function assertPlatformKeyGiven(config: Pick<Config, 'platformKey' | 'databaseUrl'>) {
  if (!config.platformKey && /^postgres(ql)?:\/\//.test(config.databaseUrl ?? '')) {
    // Processes sharing a database must agree on the key, and a key made here would have to be
    // shown to be usable: on a shared database that means into logs. So it is given, not made.
    throw new Error(
      'MEMBER_ROLES_PLATFORM_KEY is required on PostgreSQL: give every process of the deployment the same secret (16 characters or more, e.g. `openssl rand -base64 32`)',
    );
  }
}

/** Opens the database, migrates it, makes sure a platform key exists, seeds the demo, listens. */
export async function startService(
  config: Config,
  logger?: Logger,
  options: ServiceOptions = {},
): Promise<RunningService> {
  const log = logger ?? pino({ level: config.logLevel, base: { service: 'member-roles' } });
  assertPlatformKeyGiven(config);
  const database = await openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    ...(options.pgliteSnapshot ? { pgliteSnapshot: options.pgliteSnapshot } : {}),
    onConnectionError: (error) =>
      log.warn(
        { database: classifyDatabaseError(error)?.code ?? 'unknown', err: error.message },
        'a database connection broke; it is discarded',
      ),
  });
  try {
    await migrateToLatest(database.db);
    const deps = {
      db: database.db,
      clock: options.clock ?? systemClock,
      ids: ulidIds(),
      membersPages: new RevisionCache<KeptMembersPage>(
        config.pageCacheChars,
        (page) => page.text.length + (page.lastKey?.length ?? 0),
      ),
    };
    const file = credentialsFile(database, config);
    const saved = readSaved(file);

    let generatedPlatformKey: string | undefined;
    let platformKeyHash: string;
    if (config.platformKey) {
      platformKeyHash = hashSecret(config.platformKey);
    } else {
      const stored = await getSetting(database.db, 'platform_key_sha256');
      if (stored) {
        platformKeyHash = stored;
      } else {
        const candidate = newSecret();
        platformKeyHash = await putSettingIfAbsent(
          database.db,
          'platform_key_sha256',
          hashSecret(candidate),
        );
        if (platformKeyHash === hashSecret(candidate)) {
          generatedPlatformKey = candidate;
          saved.platformKey = candidate;
        }
      }
    }

    let demo: DemoCredentials | undefined;
    const seedWanted = config.demo ?? database.engine === 'pglite';
    if (seedWanted && (await countOrganizations(database.db)) === 0) {
      demo = await seedDemo(deps);
      saved.demo = demo;
    }
    save(file, saved);

    const usage = new UsageRecorder({
      db: database.db,
      logger: log,
      perMinute: config.rateLimitPerMinute,
      shared: database.engine === 'postgres',
    });
    usage.start();
    const metrics = new Metrics(database.poolStats);
    const webhooks = startWebhooks(config, database, log, metrics);
    const app = createApp({
      ...deps,
      webhookUrls: webhooks.guard,
      events: webhooks.signal,
      metrics,
      metricsPublic: config.metricsPublic ?? false,
      document: loadDocuments(),
      logger: log,
      platformKeyHash,
      usage,
      tokens: config.jwt ? jwtVerifier(config.jwt) : undefined,
      validateResponses: !config.production,
      publicUrl: config.publicUrl,
    });
    const http = await listen(app, {
      port: config.port,
      host: config.host,
      headersTimeoutMs: config.headersTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxConnections: config.maxConnections,
    });
    const { server } = http;
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host}:${port}`;

    let stopping: Promise<DrainResult> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        // The database gets the last second. PostgreSQL's pool waits for connections still held
        // by what was cut: past that second the process exits and the server rolls them back.
        // PGlite writes its files as it closes: it is given the time it needs.
        const closeBudget = Math.min(1000, Math.floor(config.shutdownTimeoutMs / 2));
        const budget = config.shutdownTimeoutMs - closeBudget;
        // Held event-stream requests are answered at once; deliveries in flight finish (or are
        // given back at the deadline) while the requests drain.
        const [result, deliveries] = await Promise.all([
          http.drain(budget),
          webhooks.stop(budget).catch(() => ({ finished: 0, cut: 0 })),
        ]);
        if (deliveries.finished + deliveries.cut > 0) {
          log.info(deliveries, 'webhook deliveries in flight at shutdown');
        }
        await usage.stop().catch(() => undefined);
        const closed = database.close().catch(() => undefined);
        if (database.engine === 'postgres') {
          await Promise.race([
            closed,
            new Promise((resolve) => setTimeout(resolve, closeBudget).unref()),
          ]);
        } else {
          await closed;
        }
        return result;
      })());

    return {
      url,
      server,
      database,
      generatedPlatformKey,
      demo: demo ?? saved.demo,
      credentialsFile:
        saved.platformKey !== undefined || saved.demo !== undefined ? file : undefined,
      stop,
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}
