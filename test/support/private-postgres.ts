import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const script = resolve(fileURLToPath(new URL('../../scripts/postgres.sh', import.meta.url)));

/** A port nobody listens on now (the kernel's choice, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface PrivatePostgres {
  url: string;
  /** Stops it (fast: connections are ended); resolves once it is down. */
  stop(): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  remove(): Promise<void>;
}

/**
 * A PostgreSQL cluster of this test's own, on a port of its own (scripts/postgres.sh with
 * PGTEST_PORT and PGTEST_DIR): restarting it disturbs no other test file and no other engineer.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  // Made by the script itself, so the server's system user owns it.
  const dir = join(tmpdir(), `member-roles-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
  const env = { ...process.env, PGTEST_PORT: String(port), PGTEST_DIR: dir };
  const run = (command: string) =>
    promisify(execFile)('bash', [script, command], { env, encoding: 'utf8' });
  const { stdout } = await run('start');
  return {
    url: stdout.trim(),
    stop: async () => {
      await run('stop');
    },
    start: async () => {
      await run('start');
    },
    remove: async () => {
      try {
        await run('stop');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
