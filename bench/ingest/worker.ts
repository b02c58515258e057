/**
 * The bench's Worker: the production Worker plus the bench-only primitive routes (bench/ingest/routes.ts) under
 * `/__bench/*`. Started by bench/ingest/run.mjs with `wrangler dev bench/ingest/worker.ts`; never deployed.
 */
import worker from "../../src/index.ts";
import { bench } from "./routes.ts";

export * from "../../src/index.ts";

export default {
  ...worker,
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname.startsWith("/__bench/")) return bench.fetch(request, env, ctx);
    return worker.fetch(request, env, ctx);
  },
} satisfies typeof worker;
