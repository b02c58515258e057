/** The project's wrangler and the D1 migrations, for e2e/global-setup.ts and e2e/support/wrangler-dev.ts. */
import path from "node:path";

// plain ESM helper shared with `npm start`
import { applyLocalMigrations } from "../../scripts/lib/dev-env.mjs";

export const ROOT = path.resolve(import.meta.dirname, "../..");
/** the project's own wrangler, without npx's lookup on every start */
export const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");

/** Applies every D1 migration to a local state folder (`--persist-to`), as `npm start` does. */
export async function applyMigrations(stateDir: string): Promise<void> {
  await applyLocalMigrations({ persistTo: stateDir, root: ROOT, wrangler: WRANGLER, stdio: "ignore" });
}
