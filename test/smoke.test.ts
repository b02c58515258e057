import { env } from "cloudflare:workers";
import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";
it("healthz", async () => {
  const res = await (exports as any).default.fetch("http://x/healthz");
  expect(res.status).toBe(200);
  expect(typeof (env as any).DB.prepare).toBe("function");
});
