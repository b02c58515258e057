// Fails when worker-configuration.d.ts (the bindings `wrangler types` generates from wrangler.toml) is stale.
// `wrangler types --check` also compares against a local .dev.vars (present after `npm start`), so this regenerates
// with the same flags as `npm run types` and compares the files instead.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const FILE = "worker-configuration.d.ts";
const committed = readFileSync(FILE, "utf8");
execFileSync("npm", ["run", "--silent", "types"], { stdio: ["ignore", "ignore", "inherit"] });
const fresh = readFileSync(FILE, "utf8");
if (fresh !== committed) {
  writeFileSync(FILE, committed);
  console.error(`${FILE} is stale: wrangler.toml changed. Run \`npm run types\` and commit the result.`);
  process.exit(1);
}
console.log(`${FILE} is up to date`);
