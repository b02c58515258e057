import { Hono } from "hono";
import { DurableObject } from "cloudflare:workers";
const app = new Hono();
app.get("/healthz", (c) => c.json({ ok: true }));
export class CircuitBreaker extends DurableObject {}
export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch) { for (const m of batch.messages) m.ack(); },
  async scheduled() {},
} satisfies ExportedHandler;
