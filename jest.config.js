/** @type {import('jest').Config} */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": [
      "ts-jest",
      {
        useESM: true,
        tsconfig: {
          isolatedModules: true,
          verbatimModuleSyntax: false,
          allowImportingTsExtensions: true,
          rewriteRelativeImportExtensions: true,
        },
      },
    ],
  },
  // Imports are written with `.ts` (Node 24 runs them directly); ts-jest rewrites them to `.js`, so map back.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  // The production build (scripts/build.ts) is not part of the module map.
  modulePathIgnorePatterns: ["<rootDir>/dist/"],
  testTimeout: 30000,
  // Two suites at a time on these 2-vCPU machines (Jest's default would be one): most suites spend their time waiting
  // (outages and restarts on timers, NATS, child processes), and the whole run took 9.6 minutes one at a time.
  maxWorkers: 2,
};
