import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { onPostgres, startTestService, type TestContext } from './support/context.js';
import { createOrg, type TestOrg } from './support/scenario.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

let ctx: TestContext;
let org: TestOrg;
let scratch: string;
beforeAll(async () => {
  ctx = await startTestService();
  org = await createOrg(ctx);
  scratch = mkdtempSync(join(tmpdir(), 'member-roles-consumer-'));
});
afterAll(async () => {
  await ctx.stop();
  rmSync(scratch, { recursive: true, force: true });
});

// The package is the same whatever database the server uses: it is checked on the PGlite pass.
const onPGlitePass = onPostgres ? test.skip : test;

describe('the published package', () => {
  onPGlitePass(
    'another TypeScript project installs the packed package, type-checks against member-roles/client and calls the server',
    async () => {
      execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], {
        cwd: root,
        stdio: 'pipe',
      });
      npm(['pack', '--pack-destination', scratch], root);
      const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'))!;
      writeFileSync(
        join(scratch, 'package.json'),
        JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
      );
      writeFileSync(
        join(scratch, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: false,
            types: [],
            lib: ['ES2022', 'DOM'],
          },
          files: ['main.ts'],
        }),
      );
      writeFileSync(
        join(scratch, 'main.ts'),
        `import { createMemberRolesClient, type Problem } from 'member-roles/client';

const client = createMemberRolesClient({ baseUrl: process.env.BASE_URL!, apiKey: process.env.API_KEY! });
const { data, error } = await client.GET('/v1/organizations/{orgId}/me', {
  params: { path: { orgId: process.env.ORG_ID! } },
});
if (error) {
  const problem: Problem = error;
  throw new Error(problem.code);
}
// @ts-expect-error the contract has no such path
void client.GET('/v1/nowhere');
console.log(JSON.stringify({ role: data.role.id, userId: data.userId }));
declare const process: { env: Record<string, string | undefined> };
`,
      );
      npm(['install', '--prefer-offline', join(scratch, tarball)], scratch);
      execFileSync(
        process.execPath,
        [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', scratch],
        {
          cwd: scratch,
          stdio: 'pipe',
        },
      );
      // The server runs in this process: the consumer must run without blocking its event loop.
      const { stdout: out } = await promisify(execFile)(
        process.execPath,
        [join(scratch, 'main.js')],
        {
          cwd: scratch,
          encoding: 'utf8',
          env: { ...process.env, BASE_URL: ctx.url, API_KEY: org.owner.key, ORG_ID: org.orgId },
        },
      );
      expect(JSON.parse(out.trim())).toEqual({ role: 'owner', userId: org.owner.userId });
    },
    300_000,
  );
});
