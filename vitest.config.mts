import { defineConfig } from "vitest/config";

// One runner for every suite. Lab-backed suites start real processes (sshd,
// QEMU), so files run one at a time on the 2-core build machines. The Ganeti
// suite (test/ganeti) shares one real two-node cluster, brought up by its
// global setup only when one of its files runs.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    // The second lists every skipped test with its reason after the run.
    reporters: ["default", "./test/support/skip-reasons-reporter.ts"],
    projects: [
      { extends: true, test: { name: "app", include: ["test/**/*.test.ts"], exclude: ["test/ganeti/**", "**/node_modules/**"] } },
      { extends: true, test: { name: "ganeti", include: ["test/ganeti/**/*.test.ts"], globalSetup: ["test/ganeti/global-setup.ts"] } },
    ],
  },
});
