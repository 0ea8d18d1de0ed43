import { pino } from 'pino';
import { readConfig } from './config.js';
import { startService } from './service.js';

/** `npm start`: run the service until SIGTERM or SIGINT. */
async function main() {
  const config = readConfig();
  const logger = pino({ level: config.logLevel, base: { service: 'member-roles' } });
  const service = await startService(config, logger);
  const { url, demo } = service;

  logger.info(
    { url, database: service.database.location, port: service.server.address() },
    'ready',
  );
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
  process.stdout.write(`${lines.join('\n')}\n`);

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
}

main().catch((error: unknown) => {
  process.stderr.write(`member-roles could not start: ${(error as Error).message}\n`);
  process.exit(1);
});
