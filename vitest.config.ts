import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vitest/config';

// .ci/run sets PYDBG_TEST_REPORT_DIR: a JSON report (per-file durations and counts) is written there
// next to the default output, and the images' global setup writes its timings there too.
const reportDir = process.env.PYDBG_TEST_REPORT_DIR;

/** Loads @actions/workflow-parser's files without their source maps (they name sources the package does not ship: vite warns about each). */
function workflowParserWithoutMaps(): Plugin {
  return {
    name: 'workflow-parser-without-maps',
    enforce: 'pre',
    load(id) {
      if (!/[\\/]@actions[\\/]workflow-parser[\\/].*\.js$/.test(id)) return null;
      return { code: readFileSync(id, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, ''), map: null };
    },
  };
}

export default defineConfig({
  test: {
    // Integration tests share one Docker engine (and this machine's cores): one file at a time,
    // everywhere (the unit tests take seconds either way).
    fileParallelism: false,
    reporters: reportDir ? ['default', ['json', { outputFile: `${reportDir}/vitest.json` }]] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // unit files first, then integration files. Not 0: with one worker, vitest puts the files of
          // a groupOrder-0 project in a group of its own that runs after every numbered group.
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          // @actions/workflow-parser (ci-github.test.ts) imports its JSON schema without an import
          // attribute, which Node refuses: vite loads it instead
          server: { deps: { inline: ['@actions/workflow-parser'] } },
        },
        plugins: [workflowParserWithoutMaps()],
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Builds every image the integration files use, once, before any of them runs (and only
          // when an integration file is selected: `vitest run test/unit` builds nothing). Vitest
          // puts no timeout on a global setup; test/setup/images.ts has its own per-image ceiling.
          globalSetup: ['test/setup/images.ts'],
          sequence: { groupOrder: 2 },
          // No test builds one of the suite's images; the longest ones build an interpreter that
          // is meant to fail (faults.test.ts) or run Valgrind/QEMU.
          testTimeout: 15 * 60_000,
          // hooks only check that images exist and read results
          hookTimeout: 2 * 60_000,
        },
      },
    ],
  },
});
