/** Every queue consumer declared in wrangler.toml (every environment) has exactly one consumer in the Worker. */
import { readFileSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { queueNames } from "../../src/config.ts";

const toml = readFileSync(path.join(import.meta.dirname, "..", "..", "wrangler.toml"), "utf8");

/** `queue = "…"` of every `[[…queues.consumers]]` table, with its environment (a regex is enough for our file). */
function declaredConsumers(): { env: string; queue: string }[] {
  const found: { env: string; queue: string }[] = [];
  const tables = toml.split(/^\[\[/m).slice(1);
  for (const table of tables) {
    const header = /^([\w.]+)\]\]/.exec(table)?.[1] ?? "";
    if (!header.endsWith("queues.consumers")) continue;
    const queue = /^queue\s*=\s*"([^"]+)"/m.exec(table)?.[1];
    if (queue) found.push({ env: header.replace(/\.?queues\.consumers$/, "") || "default", queue });
  }
  return found;
}

describe("queue configuration", () => {
  it("maps every declared consumer queue to a consumer, and each consumer is declared where consumers run", () => {
    const names = queueNames({} as never);
    const mapped = new Set(Object.values(names));
    const declared = declaredConsumers();
    expect(declared.length).toBeGreaterThanOrEqual(6);
    for (const { env, queue } of declared) expect(mapped, `${env}: ${queue}`).toContain(queue);
    for (const env of ["default", "env.production"]) {
      const queues = declared.filter((d) => d.env === env).map((d) => d.queue);
      expect(queues.sort(), env).toEqual([...mapped].sort());
    }
  });
});
