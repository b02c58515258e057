import { defineConfig } from "vitest/config";

/** Checks of the monitoring artefacts in infra/ against the metrics the code exports; plain Node, no Worker runtime. */
export default defineConfig({
  test: {
    name: "infra",
    root: import.meta.dirname,
    include: ["**/*.test.ts"],
    environment: "node",
  },
});
