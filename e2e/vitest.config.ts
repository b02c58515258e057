import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "e2e",
    root: import.meta.dirname,
    include: ["**/*.test.ts"],
    environment: "node",
    // one migrated D1 that every file's wrangler dev copies (e2e/support/wrangler-dev.ts)
    globalSetup: ["./global-setup.ts"],
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
