import type { D1Migration } from "cloudflare:test";

/** What the test runner adds to the generated bindings (vitest.config.ts: TEST_MIGRATIONS and TEST_BINDINGS). */
declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      ADMIN_API_KEY: string;
      OPENAI_API_KEY: string;
      DEEPGRAM_API_KEY: string;
      ENCRYPTION_KEYS: string;
      /** Node-side OpenAPI validator (test/helpers/openapi-validator-service.ts) */
      OPENAPI_VALIDATOR: Fetcher;
      /** Node-side pool redaction step, real ffmpeg (test/helpers/pool-ffmpeg-service.ts) */
      POOL_FFMPEG: Fetcher;
    }
  }
}
