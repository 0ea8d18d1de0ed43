import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const sources = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.includes('dist/'))
    .map((name) => join(dir, name));

/**
 * Compiles the CLI to a private folder under `.tmp/`, laid out as an installed CLI sees it: its
 * own files, and the client package under `node_modules/member-roles-client` (the name the CLI
 * imports). Its other dependencies (commander, cli-progress, csv-parse, openapi-fetch) resolve
 * from the checkout's node_modules. Returns the entry point and a function that removes the
 * folder. (test/package.test.ts checks the packed packages themselves.)
 */
export async function compileCli(): Promise<{ main: string; remove(): void }> {
  const out = join(root, '.tmp', `cli-${process.pid}-${randomBytes(4).toString('hex')}`);
  const clientOut = join(out, 'node_modules', 'member-roles-client');
  const compile = async (file: string, target: string) => {
    const { code } = await transformFile(file, {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
      sourceMaps: false,
      swcrc: false,
    });
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, code);
  };
  const js = (path: string) => path.replace(/\.ts$/, '.js');
  await Promise.all([
    ...sources(join(root, 'cli')).map((file) =>
      compile(file, js(join(out, 'cli', relative(join(root, 'cli'), file)))),
    ),
    ...['index.ts', 'paginate.ts'].map((name) =>
      compile(join(root, 'client', name), js(join(clientOut, name))),
    ),
  ]);
  // Where the CLI reads its version: one folder above its code, as in the package.
  writeFileSync(join(out, 'package.json'), readFileSync(join(root, 'cli', 'package.json')));
  writeFileSync(
    join(clientOut, 'package.json'),
    JSON.stringify({ name: 'member-roles-client', type: 'module', exports: './index.js' }),
  );
  return {
    main: join(out, 'cli', 'main.js'),
    remove: () => rmSync(out, { recursive: true, force: true }),
  };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  done: Promise<CliRun>;
}

/** Starts `member-roles ARGS` with MEMBER_ROLES_URL and MEMBER_ROLES_KEY (and no terminal). */
export function startCli(
  main: string,
  args: string[],
  env: { url: string; key?: string } & Record<string, string | undefined>,
): CliProcess {
  const { url, key, ...rest } = env;
  const child = spawn(process.execPath, [main, ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      MEMBER_ROLES_URL: url,
      ...(key ? { MEMBER_ROLES_KEY: key } : {}),
      ...rest,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliRun>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

/** Runs `member-roles ARGS` to its end. */
export const runCli = (main: string, args: string[], env: Parameters<typeof startCli>[2]) =>
  startCli(main, args, env).done;
