/**
 * What the OpenAI-compatible `model` field may name, and `GET /v1/models[/{model}]`. OpenAI's own ids (`whisper-1`,
 * `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`) mean "the default provider with its configured model"; every enabled
 * provider also has `<provider>/<model>` for the model it is configured with (`OPENAI_MODEL`, `DEEPGRAM_MODEL`,
 * `WORKERS_AI_MODEL`, and `POOL_MODEL`: the model the Whisper pool runs).
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import type { Env } from "../../env.ts";
import { ApiError } from "../../http/problem.ts";
import { DEEPGRAM_DEFAULT_MODEL } from "../../providers/deepgram.ts";
import { OPENAI_DEFAULT_MODEL } from "../../providers/openai.ts";
import { defaultProvider, parseProviderList } from "../../providers/registry.ts";
import type { ProviderName } from "../../providers/types.ts";
import { WORKERS_AI_DEFAULT_MODEL } from "../../providers/workers-ai.ts";
import { TAGS } from "../openapi.ts";
import { OPENAI_SHARED_ERRORS, openAIError } from "./schemas.ts";

/** OpenAI's transcription model ids, each an alias of the default provider's configured model. */
export const DEFAULT_MODEL_ALIASES = ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"] as const;

/** The pool's id is `whisper-pool/default` while `POOL_MODEL` is unset: whatever model the pool was started with. */
export const UNNAMED_MODEL = "default";

/** `created` of every model object (OpenAI's field is required; ours do not change with deployments): 2026-12-01. */
export const MODEL_CREATED = 1_796_083_200;

/** One id `model` may name. */
export interface ModelEntry {
  id: string;
  provider: ProviderName;
  /** the job's `requestedModel`: the provider's model the id names, or null for an alias (the provider's default) */
  requestedModel: string | null;
}

/** The model a provider's adapter runs when a job names none; null when only the pool knows (`POOL_MODEL` unset). */
export function configuredModel(env: Env, provider: ProviderName): string | null {
  switch (provider) {
    case "openai":
      return env.OPENAI_MODEL || OPENAI_DEFAULT_MODEL;
    case "deepgram":
      return env.DEEPGRAM_MODEL || DEEPGRAM_DEFAULT_MODEL;
    case "workers-ai":
      return env.WORKERS_AI_MODEL || WORKERS_AI_DEFAULT_MODEL;
    case "whisper-pool":
      return env.POOL_MODEL?.trim() || null;
  }
}

/** Every id, aliases first, then one per enabled provider in `PROVIDERS` order. */
export function modelCatalog(env: Env): ModelEntry[] {
  const entries: ModelEntry[] = [];
  const fallback = defaultProvider(env);
  if (fallback) for (const id of DEFAULT_MODEL_ALIASES) entries.push({ id, provider: fallback, requestedModel: null });
  for (const provider of parseProviderList(env)) {
    const model = configuredModel(env, provider);
    entries.push({ id: `${provider}/${model ?? UNNAMED_MODEL}`, provider, requestedModel: model });
  }
  return entries;
}

/** The entry `id` names, or null for an id this deployment does not serve (case-sensitive, as OpenAI's are). */
export function resolveModel(env: Env, id: string): ModelEntry | null {
  return modelCatalog(env).find((entry) => entry.id === id) ?? null;
}

/** OpenAI's model object. */
export function modelObject(entry: ModelEntry) {
  return { id: entry.id, object: "model" as const, created: MODEL_CREATED, owned_by: entry.provider };
}

export function modelNotFound(id: string, status: 400 | 404): ApiError {
  const message = `The model \`${id.slice(0, 200)}\` does not exist; GET /v1/models lists the models you can use.`;
  return new ApiError(status, "model_not_found", message, [{ field: "model", message }]);
}

// ---------- routes ----------

const ModelSchema = z
  .object({
    id: z.string().openapi({ example: "whisper-pool/base.en" }),
    object: z.literal("model"),
    created: z.number().int(),
    owned_by: z.string().openapi({ example: "whisper-pool" }),
  })
  .openapi("OpenAIModel");

export const models = new OpenAPIHono<AppEnv>();

models.openAPIRegistry.registerPath({
  method: "get",
  path: "/v1/models",
  operationId: "listModels",
  tags: [TAGS.openai],
  summary: "OpenAI-compatible: list the models `model` may name",
  description:
    "`whisper-1`, `gpt-4o-transcribe` and `gpt-4o-mini-transcribe` stand for the default provider's configured " +
    "model; `<provider>/<model>` names each enabled provider's. Any API key.",
  security: [{ bearerAuth: [] }],
  responses: {
    200: {
      description: "The models",
      content: {
        "application/json": { schema: z.object({ object: z.literal("list"), data: z.array(ModelSchema) }) },
      },
    },
    ...OPENAI_SHARED_ERRORS,
  },
});

models.get("/v1/models", (c) => c.json({ object: "list", data: modelCatalog(c.env).map(modelObject) }, 200));

models.openAPIRegistry.registerPath({
  method: "get",
  path: "/v1/models/{model}",
  operationId: "retrieveModel",
  tags: [TAGS.openai],
  summary: "OpenAI-compatible: one model object",
  description: "The id may contain `/` (sent as `%2F`, as the SDKs do, or literally).",
  security: [{ bearerAuth: [] }],
  request: { params: z.object({ model: z.string().openapi({ param: { name: "model", in: "path" } }) }) },
  responses: {
    200: { description: "The model", content: { "application/json": { schema: ModelSchema } } },
    404: openAIError("Not a model of this deployment (`model_not_found`)"),
    ...OPENAI_SHARED_ERRORS,
  },
});

// `{.+}`: `deepgram/nova-3` arrives as `deepgram%2Fnova-3` from the SDKs (one segment) or with a literal slash
models.get("/v1/models/:model{.+}", (c) => {
  const id = c.req.param("model");
  const entry = resolveModel(c.env, id);
  if (!entry) throw modelNotFound(id, 404);
  return c.json(modelObject(entry), 200);
});
