import cluster from 'node:cluster';
import { pino, type Logger } from 'pino';
import { runPrimary, tellPrimary, webConcurrency } from './cluster.js';
import { readConfig, type Config } from './config.js';
import { preflight, startFailureMessage } from './preflight.js';
import { startService, type RunningService } from './service.js';

/** The lines a ready service prints: where it is, and how to try it. */
function readyLines(service: RunningService): string[] {
  const { url, demo } = service;
  const lines = [`member-roles is ready on ${url} (database: ${service.database.location})`];
  lines.push(`  API reference (Redoc): ${url}/docs`);
  if (service.generatedPlatformKey) {
    lines.push(`  Platform key (generated now): ${service.generatedPlatformKey}`);
  }
  if (service.credentialsFile) {
    lines.push(`  The keys printed at first start are kept in ${service.credentialsFile}`);
  }
  if (demo) {
    lines.push(`  Demo organization: ${demo.organizationId} (owner ${demo.ownerUserId})`);
    lines.push("  List its members with the demo owner's key:");
    lines.push(
      `    curl -s -H 'Authorization: Bearer ${demo.ownerKey}' ${url}/v1/organizations/${demo.organizationId}/members`,
    );
  }
  return lines;
}

/** Runs one server process until SIGTERM or SIGINT (or, under a primary, until it goes away). */
async function serve(config: Config, logger: Logger) {
  // A server process under a primary: the primary checked the port; PGlite is refused there.
  const release = cluster.isWorker ? () => undefined : await preflight(config);
  let service: RunningService;
  try {
    service = await startService(config, logger);
  } catch (error) {
    release();
    throw error;
  }

  logger.info(
    { url: service.url, database: service.database.location, port: service.server.address() },
    'ready',
  );
  if (cluster.isWorker)
    await tellPrimary({ type: 'member-roles:ready', lines: readyLines(service) });
  else process.stdout.write(`${readyLines(service).join('\n')}\n`);

  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    logger.info(
      { signal, deadlineMs: config.shutdownTimeoutMs },
      'shutting down: no new connections; finishing the requests in flight',
    );
    // Only if closing itself hangs: the drain has its own deadline, within this one.
    const force = setTimeout(() => {
      logger.error('shutdown did not finish; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 2000);
    force.unref();
    service.stop().then(
      ({ cut, inFlight }) => {
        if (cut > 0) {
          logger.warn({ cut, inFlight }, `cut ${cut} request(s) still running at the deadline`);
        }
        logger.info({ cut, inFlight }, 'stopped');
        release();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // The primary is gone (killed): nothing reaches this process any more.
  if (cluster.isWorker) process.on('disconnect', () => shutdown('disconnect'));
}

/** `npm start`: one server process, or with WEB_CONCURRENCY=N a primary and N server processes. */
async function main() {
  const config = readConfig();
  const processes = webConcurrency();
  const base = cluster.isWorker
    ? { service: 'member-roles', pid: process.pid }
    : { service: 'member-roles' };
  const logger = pino({ level: config.logLevel, base });
  if (cluster.isPrimary && processes > 1) await runPrimary(config, processes, logger);
  else await serve(config, logger);
}

main().catch(async (error: unknown) => {
  const message = startFailureMessage(error);
  if (cluster.isWorker) await tellPrimary({ type: 'member-roles:failed', message });
  else process.stderr.write(`member-roles could not start: ${message}\n`);
  process.exit(1);
});
