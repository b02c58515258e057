/**
 * Every queue consumer declared in wrangler.toml (every environment) has exactly one consumer in the Worker: the
 * default queues plus each region's own queues from that environment's PLACEMENT.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { queueNames } from "../../src/config.ts";
import { parsePlacement } from "../../src/domain/placement.ts";

const toml = readFileSync(path.join(import.meta.dirname, "..", "..", "wrangler.toml"), "utf8");

/** The environment a table header belongs to: "default", "env.production", "env.test". */
const envOf = (header: string) => /^env\.\w+/.exec(header)?.[0] ?? "default";

/** `queue = "…"` of every `[[…queues.consumers]]` table, with its environment (a regex is enough for our file). */
function declaredConsumers(): { env: string; queue: string }[] {
  const found: { env: string; queue: string }[] = [];
  const tables = toml.split(/^\[\[/m).slice(1);
  for (const table of tables) {
    const header = /^([\w.]+)\]\]/.exec(table)?.[1] ?? "";
    if (!header.endsWith("queues.consumers")) continue;
    const queue = /^queue\s*=\s*"([^"]+)"/m.exec(table)?.[1];
    if (queue) found.push({ env: envOf(header), queue });
  }
  return found;
}

/** The `PLACEMENT` var of one environment's vars table, or undefined (one database). */
function placementVar(env: string): string | undefined {
  const varsHeader = env === "default" ? "[vars]" : `[${env}.vars]`;
  const start = toml.indexOf(`\n${varsHeader}\n`);
  if (start < 0) return undefined;
  const body = toml.slice(start + varsHeader.length + 2).split(/^\[/m)[0] ?? "";
  const match = /^PLACEMENT\s*=\s*(?:"""([\s\S]*?)"""|"([^"]*)")/m.exec(body);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** The queue names the Worker consumes under one environment's settings (the map src/index.ts builds). */
function consumedQueues(env: string): Set<string> {
  const mapped = new Set(Object.values(queueNames({} as never)));
  for (const region of parsePlacement(placementVar(env)).regions) {
    for (const name of Object.values(region.queueNames)) if (name) mapped.add(name);
  }
  return mapped;
}

describe("queue configuration", () => {
  it("maps every declared consumer queue to a consumer, and each consumer is declared where consumers run", () => {
    const declared = declaredConsumers();
    expect(declared.length).toBeGreaterThanOrEqual(6);
    for (const env of ["default", "env.production"]) {
      const mapped = consumedQueues(env);
      expect(mapped.size, env).toBeGreaterThanOrEqual(6); // both regions' queues
      const queues = declared.filter((d) => d.env === env).map((d) => d.queue);
      expect(queues.sort(), env).toEqual([...mapped].sort());
    }
    for (const { env, queue } of declared) expect(consumedQueues(env), `${env}: ${queue}`).toContain(queue);
  });
});
