import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Compiles the server to a private folder under `.tmp/` (not `dist/`, which other test files and
 * `npm run build` rebuild at the same time): a process of the real service, as `npm start` runs
 * it. Node finds the packages in the checkout's node_modules, and the contract in `generated/`.
 * Returns the path of `server/main.js` and a function that removes the folder.
 */
export async function compileService(): Promise<{ main: string; remove(): void }> {
  const out = join(root, '.tmp', `service-${process.pid}-${randomBytes(4).toString('hex')}`);
  const files = [...sources(join(root, 'server')), join(root, 'generated', 'routes.ts')];
  await Promise.all(
    files.map(async (file) => {
      const { code } = await transformFile(file, {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
        sourceMaps: false,
        swcrc: false,
      });
      const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, code);
    }),
  );
  return {
    main: join(out, 'server', 'main.js'),
    remove: () => rmSync(out, { recursive: true, force: true }),
  };
}

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Its JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export const TEST_PLATFORM_KEY = 'fault-platform-key-0123456789abcdef';

export type StartedProcess = Omit<ServiceProcess, 'url'>;

/** Starts `node main.js` with the given environment (and the test platform key, no demo). */
export function spawnProcess(main: string, env: Record<string, string>): StartedProcess {
  const child = spawn(process.execPath, [main], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      MEMBER_ROLES_PLATFORM_KEY: TEST_PLATFORM_KEY,
      MEMBER_ROLES_DEMO: '0',
      RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return {
    child,
    exited,
    output: () => output,
    logs: () =>
      output
        .split('\n')
        // The last piece is a line still being written (or empty).
        .slice(0, -1)
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: async (graceMs = 12_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts `node main.js` and waits until it says it is ready. */
export async function spawnService(
  main: string,
  env: Record<string, string>,
  readyWithinMs = 30_000,
): Promise<ServiceProcess> {
  const started = spawnProcess(main, env);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void started.stop(1000);
      reject(
        new Error(`the service did not start within ${readyWithinMs} ms:\n${started.output()}`),
      );
    }, readyWithinMs);
    const look = () => {
      const found = /is ready on (http:\/\/[\d.]+:\d+)/.exec(started.output());
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    };
    started.child.stdout!.on('data', look);
    void started.exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}) before it was ready:\n${started.output()}`));
    });
  });
  return { ...started, url };
}
