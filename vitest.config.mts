import { defineConfig } from "vitest/config";

// One runner for every suite. Lab-backed suites start real processes (sshd,
// QEMU), so files run one at a time on the 2-core build machines.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    // The second lists every skipped test with its reason after the run.
    reporters: ["default", "./test/support/skip-reasons-reporter.ts"],
  },
});
