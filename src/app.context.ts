/** Hono context typing shared by every router. */
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Principal } from "./auth/middleware.ts";
import type { Env } from "./env.ts";
import type * as schema from "./storage/schema.ts";

export type Db = DrizzleD1Database<typeof schema>;

export interface AppEnv {
  Bindings: Env;
  Variables: { db: Db; principal: Principal; traceparent: string };
}
