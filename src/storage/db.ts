/** The one place a drizzle handle on D1 is built; every query of the Worker goes through a repository in this folder. */
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";

import * as schema from "./schema.ts";

export type Db = DrizzleD1Database<typeof schema>;

/** A drizzle database over the `DB` binding, typed by the schema. Cheap: build one per request or batch. */
export function createDb(env: { DB: D1Database }): Db {
  return drizzle(env.DB, { schema });
}
