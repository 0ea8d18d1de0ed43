import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { assertPortFree, isPostgresUrl } from './preflight.js';
import { assertPlatformKeyGiven } from './service.js';

// WEB_CONCURRENCY=N: one primary process that serves nothing itself and N server processes
// (node `cluster`) sharing the port. PostgreSQL only: PGlite's data directory belongs to one
// process.

/** What a server process tells the primary. */
export type WorkerMessage =
  | { type: 'member-roles:ready'; lines: string[] }
  | { type: 'member-roles:failed'; message: string };

/** WEB_CONCURRENCY: how many server processes (1: this process serves, no primary). */
export function webConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.WEB_CONCURRENCY;
  if (value === undefined || value === '') return 1;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 256) {
    throw new Error(`WEB_CONCURRENCY must be a whole number from 1 to 256, not "${value}"`);
  }
  return Number(value);
}

/** In a server process started by the primary: tell it (ready, or why the start failed). */
export function tellPrimary(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Replacements wait longer while processes keep exiting: 1 s, 2 s, 4 s… at most 30 s. */
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MAX_MS = 30_000;

/**
 * The primary: checks what can be checked once (PostgreSQL, the platform key, the port), starts
 * the first server process (which migrates the database and seeds the demo if asked), then the
 * others; prints the ready line once all are ready. A server process that exits unexpectedly is
 * logged and replaced, after a delay that grows while processes keep exiting (a database that
 * is away fails their starts; the survivors keep answering 503 meanwhile, and nothing ends the
 * deployment). SIGTERM and SIGINT are passed on; the primary exits 0 when every server process
 * drained and exited 0.
 */
export async function runPrimary(config: Config, processes: number, logger: Logger) {
  if (!isPostgresUrl(config.databaseUrl)) {
    throw new Error(
      `WEB_CONCURRENCY=${processes} needs PostgreSQL (DATABASE_URL=postgres://…): PGlite's data directory belongs to one process. Unset WEB_CONCURRENCY to run one process on PGlite`,
    );
  }
  assertPlatformKeyGiven(config);
  await assertPortFree(config.host, config.port);

  const log = logger.child({ role: 'primary' });
  let stopping = false;
  const exits: number[] = [];

  /** Forks one server process; resolves with its ready lines, rejects if it exits first. */
  const fork = (env: Record<string, string>) => {
    const worker = cluster.fork(env);
    const ready = new Promise<string[]>((resolve, reject) => {
      let failure: string | undefined;
      const onMessage = (message: WorkerMessage) => {
        if (message?.type === 'member-roles:ready') resolve(message.lines);
        if (message?.type === 'member-roles:failed') failure = message.message;
      };
      worker.on('message', onMessage);
      worker.once('exit', (code, signal) => {
        worker.off('message', onMessage);
        reject(
          new Error(
            failure ?? `a server process exited (${signal ?? `code ${code}`}) before it was ready`,
          ),
        );
      });
    });
    return { worker, ready };
  };

  const stopAll = async (signal: NodeJS.Signals, deadlineMs: number): Promise<boolean> => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    const exits = workers.map(
      (worker) =>
        new Promise<boolean>((resolve) => {
          if (worker.isDead()) return resolve(worker.process.exitCode === 0);
          worker.once('exit', (code) => resolve(code === 0));
          worker.process.kill(signal);
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const outcome = await Promise.race([Promise.all(exits), deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') {
      for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
      return false;
    }
    return outcome.every(Boolean);
  };

  // A process that cannot start fails the whole start: the others are stopped.
  let lines: string[];
  const started: ReturnType<typeof fork>[] = [];
  try {
    const first = fork({});
    started.push(first);
    lines = await first.ready;
    // The others neither migrate (done) nor seed the demo (done, or not wanted).
    for (let i = 1; i < processes; i += 1) started.push(fork({ MEMBER_ROLES_DEMO: '0' }));
    await Promise.all(started.map((s) => s.ready));
  } catch (error) {
    await stopAll('SIGTERM', config.shutdownTimeoutMs);
    throw error;
  }

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    exits.push(now);
    while (exits.length > 0 && exits[0]! < now - RESTART_WINDOW_MS) exits.shift();
    const delayMs = Math.min(RESTART_DELAY_MAX_MS, 1000 * 2 ** (exits.length - 1));
    log.error(
      { pid: worker.process.pid, code, signal, exitsInLastMinute: exits.length, delayMs },
      'a server process exited unexpectedly; starting another',
    );
    setTimeout(() => {
      if (stopping) return;
      fork({ MEMBER_ROLES_DEMO: '0' }).ready.then(
        () => log.info('the replacement server process is ready'),
        (error: Error) => log.error({ err: error.message }, 'the replacement did not start'),
      );
    }, delayMs);
  });

  const pids = started.map((s) => s.worker.process.pid).join(', ');
  process.stdout.write(
    `${[...lines, `  Server processes: ${processes} (WEB_CONCURRENCY; pids ${pids})`].join('\n')}\n`,
  );
  log.info({ processes, pids }, 'ready');

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info(
      { signal, deadlineMs: config.shutdownTimeoutMs },
      'shutting down: passing the signal to every server process',
    );
    // Each server process drains within SHUTDOWN_TIMEOUT_MS; this is only for one that hangs.
    void stopAll(signal, config.shutdownTimeoutMs + 2000).then((clean) => {
      log.info({ clean }, clean ? 'stopped' : 'stopped; a server process did not stop cleanly');
      process.exit(clean ? 0 : 1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
