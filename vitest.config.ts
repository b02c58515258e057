import path from "node:path";

import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

import { validateOpenApiDocument } from "./test/helpers/openapi-validator-service.ts";
import { poolFfmpegRedaction } from "./test/helpers/pool-ffmpeg-service.ts";

/** Test-only settings and throwaway secrets (real ones come from `wrangler secret` / `.dev.vars`). */
export const TEST_BINDINGS = {
  ENVIRONMENT: "test",
  // as long as a production key must be (43+ characters), so tests that run with ENVIRONMENT=production still work
  ADMIN_API_KEY: "test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz",
  PROVIDERS: "openai,deepgram,whisper-pool",
  PUBLIC_BASE_URL: "https://edge.test",
  OPENAI_API_KEY: "sk-test-openai-key",
  OPENAI_MODEL: "whisper-1",
  DEEPGRAM_API_KEY: "dg-test-key",
  POOL_URL: "https://pool.test",
  POOL_SIGNING_KEYS: "e1:edge-to-pool-secret",
  POOL_CALLBACK_KEYS: "p2:pool-callback-new,p1:pool-callback-old",
  AUDIO_URL_KEYS: "a1:audio-url-secret",
  ENCRYPTION_KEYS: "m2:test-master-key-two-0123456789abcdef,m1:test-master-key-one-0123456789abcdef",
  RETRY_BASE_SECONDS: "1",
  RETRY_CAP_SECONDS: "10",
  // requests without CF-Connecting-IP share one "unknown" bucket; the throttle's own tests set low limits per call
  AUTH_FAILURES_PER_MINUTE: "100000",
  OPERATOR_AUTH_FAILURES_PER_MINUTE: "100000",
  // every request reads the directory, so tests that revoke or expire keys in D1 see it at once; the cache has its
  // own tests (test/placement/)
  API_KEY_CACHE_SECONDS: "0",
};

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              main: "./src/index.ts",
              wrangler: { configPath: "./wrangler.toml", environment: "test" },
              miniflare: {
                bindings: { TEST_MIGRATIONS: migrations, ...TEST_BINDINGS },
                // runs in Node: the validator reads the OpenAPI meta-schemas from disk (test/api/openapi.test.ts)
                // and the pool's ffmpeg redaction step (test/jobs/pii-audio-pool.test.ts)
                serviceBindings: { OPENAPI_VALIDATOR: validateOpenApiDocument, POOL_FFMPEG: poolFfmpegRedaction },
              },
            }),
          ],
          test: {
            name: "edge",
            include: ["test/**/*.test.ts"],
            exclude: ["test/infra/**"],
            setupFiles: ["./test/helpers/setup.ts"],
          },
        },
        "./packages/pool-contract/vitest.config.ts",
        "./packages/client/vitest.config.ts",
        "./gpu-worker/vitest.config.ts",
        "./e2e/vitest.config.ts",
        "./test/infra/vitest.config.ts",
      ],
    },
  };
});
