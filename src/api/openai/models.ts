/**
 * What the OpenAI-compatible `model` field may name, and `GET /v1/models[/{model}]`. OpenAI's own ids (`whisper-1`,
 * `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`) are aliases: the configured default (the first enabled provider with
 * its default model; for a translation, the first that can translate). Every model an enabled provider offers
 * (`providerModels`: `OPENAI_MODEL` then `OPENAI_MODELS`, `DEEPGRAM_MODEL` then `DEEPGRAM_MODELS`, the Workers AI
 * model, `POOL_MODELS`) also has its own id, `<provider>/<model>`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import type { Env } from "../../env.ts";
import { ApiError } from "../../http/problem.ts";
import { OPENAI_DIARIZE_MODEL, providerModels } from "../../providers/capabilities.ts";
import { defaultProvider, parseProviderList } from "../../providers/registry.ts";
import type { ProviderName } from "../../providers/types.ts";
import { TAGS } from "../openapi.ts";
import { OPENAI_SHARED_ERRORS, openAIError } from "./schemas.ts";

/** OpenAI's transcription model ids, each an alias of the configured default. */
export const DEFAULT_MODEL_ALIASES = ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"] as const;

/** The id of a provider whose model names the edge does not know (the pool without `POOL_MODELS`). */
export const UNNAMED_MODEL = "default";

/** `created` of every model object (OpenAI's field is required; ours do not change with deployments): 2026-12-01. */
export const MODEL_CREATED = 1_796_083_200;

/** One id `model` may name. */
export interface ModelEntry {
  id: string;
  /** the provider the id names; for an alias, the default provider (a translation may pick another) */
  provider: ProviderName;
  alias: boolean;
  /** the job's `requestedModel`: the provider's model the id names, or null (an alias, or an unnamed model) */
  requestedModel: string | null;
}

/** Every id, aliases first, then each enabled provider's models in `PROVIDERS` order. */
export function modelCatalog(env: Env): ModelEntry[] {
  const entries: ModelEntry[] = [];
  const fallback = defaultProvider(env);
  if (fallback) {
    for (const id of DEFAULT_MODEL_ALIASES) entries.push({ id, provider: fallback, alias: true, requestedModel: null });
  }
  for (const provider of parseProviderList(env)) {
    const models = providerModels(env, provider);
    if (!models.length)
      entries.push({ id: `${provider}/${UNNAMED_MODEL}`, provider, alias: false, requestedModel: null });
    for (const model of models)
      entries.push({ id: `${provider}/${model}`, provider, alias: false, requestedModel: model });
  }
  return entries;
}

/** The entry `id` names, or null for an id this deployment does not serve (case-sensitive, as OpenAI's are). */
export function resolveModel(env: Env, id: string): ModelEntry | null {
  const listed = modelCatalog(env).find((entry) => entry.id === id);
  if (listed) return listed;
  if (id === OPENAI_DIARIZE_MODEL) {
    // OpenAI's diarizing model id, accepted though not listed (GET /v1/models stays as it was): OpenAI's own model
    // when the openai provider offers it (OPENAI_MODELS), else an alias that routing sends to a provider that can
    // label speakers
    if (parseProviderList(env).includes("openai") && providerModels(env, "openai").includes(OPENAI_DIARIZE_MODEL))
      return { id, provider: "openai", alias: false, requestedModel: OPENAI_DIARIZE_MODEL };
    const fallback = defaultProvider(env);
    return fallback ? { id, provider: fallback, alias: true, requestedModel: null } : null;
  }
  return null;
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
