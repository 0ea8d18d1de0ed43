// Jest runs in ESM mode (scripts/test.mjs sets NODE_OPTIONS=--experimental-vm-modules): PGlite's
// internal dynamic import() kills a CommonJS-mode worker. @swc/jest only strips types; `npm run
// typecheck` is the type check.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/.data/'],
  extensionsToTreatAsEsm: ['.ts'],
  // Sources import './x.js' (NodeNext); in the source tree that file is './x.ts'.
  // The CLI imports the client by its package name; in the source tree that is client/index.ts.
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^member-roles-client$': '<rootDir>/client/index.ts',
  },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      },
    ],
  },
  // Hooks too: a service on a fresh embedded database migrates before its first test, which takes
  // seconds on a loaded 2-core machine.
  testTimeout: 60000,
  // Two test files at a time on this 2-core machine: most of a file's time is spent waiting on
  // its service, its database and the processes it starts, not computing (Jest's default, cores
  // minus one, ran the files one after another).
  maxWorkers: 2,
};
