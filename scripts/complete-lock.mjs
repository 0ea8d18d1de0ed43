#!/usr/bin/env node
// node scripts/complete-lock.mjs package-lock.json
//
// Adds the lock entries of platform-specific optional dependencies (@swc/core-darwin-arm64, …) that
// are missing from package-lock.json. Without them `npm ci` refuses the lock ("Missing:
// @swc/core-darwin-arm64@ from lock file"). They go missing when the lock is written by `npm install`
// against a registry mirror that lacks other platforms' binaries (this machine's: a 404 for
// @swc/core-darwin-arm64) or with node_modules present (npm/cli#4828). Run it after any `npm install`
// made here; it only adds entries. os/cpu/libc come from the package name, so npm skips them on
// other platforms without fetching; with no integrity recorded, a machine that does install one
// trusts the registry for it.
import * as fs from 'node:fs';
const file = process.argv[2];
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pk = lock.packages;
const cpus = {
  arm64: 'arm64',
  x64: 'x64',
  ia32: 'ia32',
  arm: 'arm',
  ppc64: 'ppc64',
  s390x: 's390x',
  loong64: 'loong64',
  riscv64: 'riscv64',
};
let added = 0;
for (const [key, entry] of Object.entries({ ...pk })) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (pk[`node_modules/${dep}`] || pk[`${key}/node_modules/${dep}`]) continue;
    const m =
      /-(android|darwin|freebsd|linux|openharmony|win32)-(arm64|x64|ia32|arm|ppc64|s390x|loong64|riscv64)(?:-(gnu|gnueabihf|musl|musleabihf|msvc|eabi))?$/.exec(
        dep,
      );
    if (!m) throw new Error(`cannot infer platform of ${dep}`);
    const [, os, cpu, abi] = m;
    const libc = abi?.startsWith('gnu')
      ? ['glibc']
      : abi?.startsWith('musl')
        ? ['musl']
        : undefined;
    pk[`node_modules/${dep}`] = {
      version,
      cpu: [cpus[cpu]],
      dev: entry.dev || undefined,
      ...(libc && { libc }),
      optional: true,
      os: [os],
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => a.localeCompare(b, 'en')));
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} entries`);
