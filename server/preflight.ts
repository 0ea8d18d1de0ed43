import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Config } from './config.js';
import { DEFAULT_PGLITE_DIR } from './storage/database.js';

// What a start checks before it opens any database or data directory, so that a start that cannot
// succeed says why and leaves nothing behind: the port is free, and an embedded data directory is
// not in use by another process.

/** The embedded data directory DATABASE_URL names, or undefined (PostgreSQL, or in memory). */
export function pgliteDirectory(databaseUrl: string | undefined): string | undefined {
  if (!databaseUrl) return DEFAULT_PGLITE_DIR;
  if (databaseUrl.startsWith('file:')) return databaseUrl.slice('file:'.length);
  return undefined;
}

/** True when DATABASE_URL names a PostgreSQL server. */
export const isPostgresUrl = (databaseUrl: string | undefined) =>
  /^postgres(ql)?:\/\//.test(databaseUrl ?? '');

/**
 * Fails with "port N is in use" when something already listens on host:port. Port 0 (the system
 * picks one) is always free. The port is released again at once: the service binds it for good
 * only once its database is ready.
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new Error(
            `port ${port} is in use on ${host}: stop what listens there, or choose another with PORT`,
          ),
        );
      } else if (error.code === 'EACCES') {
        reject(new Error(`port ${port} on ${host} may not be used by this user (EACCES)`));
      } else if (error.code === 'EADDRNOTAVAIL') {
        reject(new Error(`HOST ${host} is not an address of this machine (EADDRNOTAVAIL)`));
      } else reject(error);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolvePort()));
  });
}

/** The lock file of an embedded data directory: beside it, `DIR.lock`, holding the owner's pid. */
export const lockFileOf = (dataDir: string) => `${resolve(dataDir).replace(/\/+$/, '')}.lock`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PGlite is one PostgreSQL session inside this process: a second process opening the same data
 * directory would corrupt it. Takes `DIR.lock` (created exclusively, holding this pid) or fails
 * naming the process that holds it. A lock left by a process that no longer runs (killed, the
 * machine restarted) is taken over. Returns the function that releases it; it is also released
 * when the process exits.
 */
export function lockDataDirectory(dataDir: string): () => void {
  const file = lockFileOf(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  // The pid is written to a file of this process's own, then linked into place: the lock file
  // appears with its content, or not at all (EEXIST), so no one ever reads it half-made.
  const mine = `${file}.${process.pid}`;
  writeFileSync(mine, `${process.pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        linkSync(mine, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) {
          throw new Error(`could not take the lock ${file} of the data directory ${dataDir}`, {
            cause: error,
          });
        }
      }
      const holder = readPid(file);
      if (holder !== undefined && alive(holder)) {
        throw new Error(
          `the data directory ${dataDir} is in use by another process (pid ${holder}): PGlite allows one process per data directory. Stop that process first, or run several processes on PostgreSQL (DATABASE_URL=postgres://…). If no such process runs, remove ${file}`,
        );
      }
      // A stale lock (its process is gone): remove it if it is still the same one, and try
      // again. Of two processes taking it over at once, one links first; the other then sees a
      // live holder.
      if (readPid(file) === holder) rmSync(file, { force: true });
    }
  } finally {
    rmSync(mine, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    if (readPid(file) === process.pid) rmSync(file, { force: true });
  };
  process.on('exit', release);
  return release;
}

/**
 * Everything a start checks before touching a database: the port, then (embedded database) the
 * data directory's lock. Returns the function that releases what it took.
 */
export async function preflight(
  config: Pick<Config, 'host' | 'port' | 'databaseUrl'>,
): Promise<() => void> {
  await assertPortFree(config.host, config.port);
  const dataDir = pgliteDirectory(config.databaseUrl);
  return dataDir ? lockDataDirectory(dataDir) : () => undefined;
}

/** What a failed start says: its error's message, with the port named when listening failed. */
export function startFailureMessage(error: unknown): string {
  const { code, port, address } = error as NodeJS.ErrnoException & {
    port?: number;
    address?: string;
  };
  // Something took the port between the check and the listen.
  if (code === 'EADDRINUSE') {
    return `port ${port} is in use on ${address}: stop what listens there, or choose another with PORT`;
  }
  return error instanceof Error ? error.message : String(error);
}
