/** Hono context typing shared by every router. */
import type { Principal } from "./auth/middleware.ts";
import type { Env } from "./env.ts";
import type { Db } from "./storage/db.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** the request's job shard: the tenant's once authenticated (src/auth/middleware.ts), else the first shard */
    db: Db;
    principal: Principal;
    traceparent: string;
    /** the tenant is being moved to another shard: writes are refused until the switch */
    tenantReadOnly?: boolean;
  };
}
