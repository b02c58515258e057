/**
 * Once per run of the e2e project: a local D1 with every migration applied, which each file's `wrangler dev` copies
 * (e2e/support/wrangler-dev.ts) instead of running `wrangler d1 migrations apply` itself.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import type { TestProject } from "vitest/node";

import { applyMigrations } from "./support/migrations.ts";

export default async function setup(project: TestProject): Promise<() => void> {
  const stateDir = mkdtempSync(path.join(tmpdir(), "vtt-e2e-migrated-"));
  await applyMigrations(stateDir);
  project.provide("e2eMigratedState", stateDir);
  return () => rmSync(stateDir, { recursive: true, force: true });
}
