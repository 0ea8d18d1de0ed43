// The client package as a user gets it: packed from client/ with `npm pack`, installed from the
// tarball into a scratch project outside this repository (so nothing resolves from our own
// node_modules), type-checked with the compiler options `tsc --init` writes, and run against a
// real service.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const tscBin = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** npm, from the local cache only: no request leaves the machine. */
const npm = (args: string[], cwd: string) =>
  execFileSync(
    'npm',
    [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error', '--no-update-notifier'],
    { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );

interface LockEntry {
  version: string;
  integrity?: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  bin?: Record<string, string>;
  dev?: boolean;
}

/**
 * Installs `tarballs` (packed packages of this repository: the client, and the CLI that depends
 * on it) as `dependencies`, and `devDependencies` (names), into `project` with
 * `npm ci --offline`. A named install would need the registry's full metadata, which npm's cache
 * does not keep; a lockfile naming each package's version and integrity installs from the cached
 * tarballs alone. What the lock holds beyond the tarballs is the closure of the packed
 * package.json files' own `dependencies` (as this repository's lock resolves them), so what lands
 * in node_modules is still decided by the packages as published.
 */
function installFromCache(project: string, tarballs: string[], devDependencies: string[]) {
  const repoLock = (
    JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    }
  ).packages;
  const packages: Record<string, LockEntry> = {};
  const direct: Record<string, string> = {};
  const packedDependencies: string[] = [];
  for (const tarball of tarballs) {
    const packed = JSON.parse(
      execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }),
    ) as {
      name: string;
      version: string;
      dependencies?: Record<string, string>;
      bin?: Record<string, string>;
    };
    const spec = `file:${tarball}`;
    direct[packed.name] = spec;
    packages[`node_modules/${packed.name}`] = {
      version: packed.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      ...(packed.dependencies ? { dependencies: packed.dependencies } : {}),
      // npm ci links node_modules/.bin from the lock.
      ...(packed.bin ? { bin: packed.bin } : {}),
    };
    packedDependencies.push(...Object.keys(packed.dependencies ?? {}));
  }
  const add = (names: string[], dev: boolean) => {
    for (const name of names) {
      const key = `node_modules/${name}`;
      if (packages[key]) continue;
      const entry = repoLock[key];
      if (!entry?.version)
        throw new Error(`${name} is not in package-lock.json, so not in the npm cache`);
      const { version, integrity, dependencies } = entry;
      packages[key] = { version, integrity, ...(dependencies ? { dependencies } : {}), dev };
      add(Object.keys(dependencies ?? {}), dev);
    }
  };
  add(packedDependencies, false);
  add(devDependencies, true);
  const manifest = {
    name: 'consumer',
    private: true,
    type: 'module',
    dependencies: direct,
    devDependencies: Object.fromEntries(
      devDependencies.map((name) => [name, packages[`node_modules/${name}`]!.version]),
    ),
  };
  writeFileSync(join(project, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(
    join(project, 'package-lock.json'),
    JSON.stringify({
      name: 'consumer',
      lockfileVersion: 3,
      requires: true,
      packages: { '': manifest, ...packages },
    }),
  );
  npm(['ci'], project);
}

/** The first ```ts block after a heading of a README, verbatim. */
function snippet(file: string, heading: string): string {
  const readme = readFileSync(file, 'utf8');
  const section = readme.slice(readme.indexOf(`${heading}\n`));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`no ts block under ${heading}`);
  return match[1]!;
}

interface NpmTree {
  dependencies?: Record<string, NpmTree>;
}
const names = (tree: NpmTree): string[] =>
  Object.entries(tree.dependencies ?? {}).flatMap(([name, sub]) => [name, ...names(sub)]);

/** Run with `node walk.js`: walks every member with paginate() and reports what it saw. */
const WALK = `import { createMemberRolesClient, type Member } from 'member-roles-client';

let pages = 0;
const client = createMemberRolesClient({
  baseUrl: process.env.BASE_URL ?? '',
  apiKey: process.env.API_KEY,
  fetch: (request) => {
    pages += 1;
    return fetch(request);
  },
});
const orgId = process.env.ORG_ID ?? '';
const seen = new Set<string>();
let count = 0;
for await (const member of client.paginate('/v1/organizations/{orgId}/members', {
  params: { path: { orgId } },
})) {
  const typed: Member = member;
  seen.add(typed.userId);
  count += 1;
}
// The installed types still refuse a path that is not a list (this line would run harmlessly:
// a generator does nothing until iterated).
// @ts-expect-error /v1/permissions answers one unpaginated list
client.paginate('/v1/permissions');
console.log(JSON.stringify({ count, distinct: seen.size, pages }));
`;

// The package is the same whatever database the server uses: it is checked on the PGlite pass
// (test/paginate.test.ts walks every list on both).
const onPGlitePass = onPostgres ? test.skip : test;

let ctx: TestContext;
let org: TestOrg;
let scratch: string;
let consumer: string;
let installedTree: NpmTree;
let typecheck: { status: number | null; output: string };
let cliConsumer: string;
let cliTree: NpmTree;
beforeAll(async () => {
  if (onPostgres) return;
  ctx = await startTestService();
  org = await createOrg(ctx);
  scratch = mkdtempSync(join(tmpdir(), 'member-roles-client-'));

  // Pack (client/'s prepack compiles it) and install the tarball alone in an ESM project.
  const packs = join(scratch, 'packs');
  consumer = join(scratch, 'consumer');
  mkdirSync(packs);
  mkdirSync(consumer);
  npm(['pack', '--pack-destination', packs], join(root, 'client'));
  const tarball = join(
    packs,
    readdirSync(packs).find((f) => f.endsWith('.tgz'))!,
  );
  installFromCache(consumer, [tarball], []);
  // `npm ls` exits non-zero when the tree misses or mismatches a declared dependency.
  installedTree = JSON.parse(npm(['ls', '--all', '--json'], consumer)) as NpmTree;

  // A Node project as `tsc --init` makes it, untouched. Its `"types": []` keeps @types/node out
  // unless a file asks for it; node.d.ts asks, without changing a compiler option.
  installFromCache(consumer, [tarball], ['@types/node']);
  execFileSync(process.execPath, [tscBin, '--init'], { cwd: consumer, stdio: 'pipe' });
  writeFileSync(join(consumer, 'node.d.ts'), '/// <reference types="node" />\n');
  writeFileSync(join(consumer, 'readme.ts'), snippet(join(root, 'README.md'), '## The client'));
  writeFileSync(join(consumer, 'walk.ts'), WALK);
  const tsc = spawnSync(process.execPath, [tscBin, '-p', consumer], {
    cwd: consumer,
    encoding: 'utf8',
  });
  typecheck = { status: tsc.status, output: `${tsc.stdout}${tsc.stderr}` };

  // The CLI (cli/'s prepack builds the client, then the CLI), installed with the client beside
  // it, as both would come from a registry.
  const cliPacks = join(scratch, 'cli-packs');
  cliConsumer = join(scratch, 'cli-consumer');
  mkdirSync(cliPacks);
  mkdirSync(cliConsumer);
  npm(['pack', '--pack-destination', cliPacks], join(root, 'cli'));
  const cliTarball = join(
    cliPacks,
    readdirSync(cliPacks).find((f) => f.endsWith('.tgz'))!,
  );
  installFromCache(cliConsumer, [tarball, cliTarball], []);
  cliTree = JSON.parse(npm(['ls', '--all', '--json'], cliConsumer)) as NpmTree;
}, 300_000);
afterAll(async () => {
  if (onPostgres) return;
  await ctx.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the client package (member-roles-client)', () => {
  onPGlitePass(
    'installs alone: the client, openapi-fetch and its own dependencies, nothing of the server',
    () => {
      expect(Object.keys(installedTree.dependencies ?? {})).toEqual(['member-roles-client']);
      const client = installedTree.dependencies!['member-roles-client']!;
      expect(Object.keys(client.dependencies ?? {})).toEqual(['openapi-fetch']);
      const openapiFetch = client.dependencies!['openapi-fetch']!;
      expect(names(installedTree).sort()).toEqual(
        ['member-roles-client', 'openapi-fetch', ...names(openapiFetch)].sort(),
      );
      const repoManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        dependencies: object;
      };
      const serverDependencies = Object.keys(repoManifest.dependencies).filter(
        (name) => name !== 'openapi-fetch',
      );
      expect(serverDependencies).toContain('express');
      expect(names(installedTree).filter((name) => serverDependencies.includes(name))).toEqual([]);
    },
  );

  onPGlitePass(
    "the README snippet type-checks in a project made by `tsc --init`, with the installed package's types",
    () => {
      const options = readFileSync(join(consumer, 'tsconfig.json'), 'utf8');
      // The defaults that broke the old snippet are the ones in force.
      expect(options).toMatch(/^\s*"exactOptionalPropertyTypes": true,/m);
      expect(options).toMatch(/^\s*"verbatimModuleSyntax": true,/m);
      expect(typecheck.output).toBe('');
      expect(typecheck.status).toBe(0);
      // The package's own README shows the same snippet.
      expect(snippet(join(root, 'client', 'README.md'), '# member-roles-client')).toBe(
        snippet(join(root, 'README.md'), '## The client'),
      );
    },
  );

  onPGlitePass(
    'paginate() from the installed package walks a 250-member list on a running service',
    async () => {
      const userIds = Array.from(
        { length: 249 },
        (_, i) => `usr_walk_${String(i).padStart(3, '0')}`,
      );
      for (let start = 0; start < userIds.length; start += 10) {
        await Promise.all(
          userIds.slice(start, start + 10).map(async (userId) => {
            const { error } = await org.owner.client.POST('/v1/organizations/{orgId}/members', {
              params: { path: { orgId: org.orgId } },
              body: { userId, email: `${userId}@example.test` },
            });
            if (error) throw new Error(`addMember failed: ${JSON.stringify(error)}`);
          }),
        );
      }
      // The service runs in this process: the consumer must run without blocking its event loop.
      const { stdout } = await promisify(execFile)(process.execPath, [join(consumer, 'walk.js')], {
        cwd: consumer,
        encoding: 'utf8',
        env: { ...process.env, BASE_URL: ctx.url, API_KEY: org.owner.key, ORG_ID: org.orgId },
      });
      const walked = JSON.parse(stdout.trim()) as {
        count: number;
        distinct: number;
        pages: number;
      };
      expect(walked.count).toBe(250);
      expect(walked.distinct).toBe(250);
      // The default page is 50 members: the walk followed nextCursor through several pages.
      expect(walked.pages).toBeGreaterThanOrEqual(5);
    },
    120_000,
  );
});

describe('the CLI package (member-roles-cli)', () => {
  onPGlitePass(
    'installs with the client and its own libraries, nothing of the server, and `member-roles` runs from node_modules/.bin',
    async () => {
      expect(Object.keys(cliTree.dependencies ?? {}).sort()).toEqual([
        'member-roles-cli',
        'member-roles-client',
      ]);
      const cli = cliTree.dependencies!['member-roles-cli']!;
      expect(Object.keys(cli.dependencies ?? {}).sort()).toEqual([
        'cli-progress',
        'commander',
        'csv-parse',
        'member-roles-client',
      ]);
      const repoManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        dependencies: object;
      };
      const serverDependencies = Object.keys(repoManifest.dependencies).filter(
        (name) => name !== 'openapi-fetch',
      );
      expect(names(cliTree).filter((name) => serverDependencies.includes(name))).toEqual([]);

      const { stdout } = await promisify(execFile)(
        join(cliConsumer, 'node_modules', '.bin', 'member-roles'),
        ['--json', 'members', 'list', org.orgId],
        {
          cwd: cliConsumer,
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH,
            MEMBER_ROLES_URL: ctx.url,
            MEMBER_ROLES_KEY: org.owner.key,
          },
        },
      );
      const members = JSON.parse(stdout) as { userId: string }[];
      expect(members.length).toBeGreaterThanOrEqual(1);
      expect(members.map((m) => m.userId)).toContain(org.owner.userId);
    },
    60_000,
  );
});
