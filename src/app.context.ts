/** Hono context typing shared by every router. */
import type { Principal } from "./auth/middleware.ts";
import type { Env } from "./env.ts";
import type { Db } from "./storage/db.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: { db: Db; principal: Principal; traceparent: string };
}
