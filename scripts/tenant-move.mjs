#!/usr/bin/env node
// `npm run tenant:move -- <tenant> <shard | region>`: moves a tenant to another job shard or region through
// `POST /v1/admin/tenants/{tenant}/move` of a running Worker (docs/operations.md, "Moving a tenant"). The operator key
// comes from --key, VTT_ADMIN_KEY, or ADMIN_API_KEY in .dev.vars; the Worker from --url, VTT_API_URL or
// http://127.0.0.1:8787. A target that names a configured region (`eu`) picks its shard with the fewest tenants;
// anything else is a shard code (`eu0`). Safe to re-run: a finished move only finishes its deletion.
import { existsSync, readFileSync } from "node:fs";

import { parseVars } from "./lib/dev-env.mjs";

const args = process.argv.slice(2);
const flag = (name) => {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const [, value] = args.splice(at, 2);
  return value;
};
const base = (flag("--url") ?? process.env.VTT_API_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const asRegion = args.includes("--region");
if (asRegion) args.splice(args.indexOf("--region"), 1);
const key =
  flag("--key") ??
  process.env.VTT_ADMIN_KEY ??
  (existsSync(".dev.vars") ? parseVars(readFileSync(".dev.vars", "utf8")).ADMIN_API_KEY : undefined);
const [tenant, target] = args;

if (!tenant || !target) {
  console.error("usage: npm run tenant:move -- <tenant id> <shard code | region> [--region] [--url URL] [--key KEY]");
  console.error("  a shard code is a letter and two characters (eu0); --region forces a region name");
  process.exit(2);
}
if (!key) {
  console.error("no operator key: pass --key, set VTT_ADMIN_KEY, or put ADMIN_API_KEY in .dev.vars");
  process.exit(2);
}
// shard codes are three characters (src/domain/placement.ts); region names are anything else
const body = asRegion || !/^[a-z][a-z0-9]{2}$/.test(target) ? { region: target } : { shard: target };

try {
  const res = await fetch(`${base}/v1/admin/tenants/${encodeURIComponent(tenant)}/move`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { detail: text.slice(0, 500) };
  }
  if (!res.ok) {
    console.error(`${res.status} ${parsed.code ?? ""}: ${parsed.detail ?? parsed.title ?? text}`);
    if (res.headers.get("retry-after")) console.error(`retry in ${res.headers.get("retry-after")} s`);
    process.exit(1);
  }
  const { moved, from, to, copied, deleted } = parsed;
  console.log(
    moved
      ? `moved ${tenant} from ${from.region}/${from.shard} to ${to.region}/${to.shard}`
      : `${tenant} already is in ${to.region}/${to.shard}`,
  );
  console.log(JSON.stringify({ copied, deleted }, null, 2));
} catch (error) {
  console.error(String(error.message ?? error));
  if (String(error.cause?.code ?? "").includes("ECONNREFUSED")) console.error(`is the service running at ${base}?`);
  process.exit(1);
}
