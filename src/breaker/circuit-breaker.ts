/** Per-provider circuit breaker (one Durable Object per provider name). State lives in the object's SQLite storage. */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

export class CircuitBreaker extends DurableObject<Env> {
  /** Current state for admin views; the policy arrives with the failure-handling work. */
  async state(): Promise<{ state: "closed" }> {
    return { state: "closed" };
  }
}
