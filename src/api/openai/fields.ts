/**
 * The multipart fields of the OpenAI-compatible audio routes, judged: OpenAI's own (`model`, `response_format`,
 * `temperature`, `timestamp_granularities[]`, `stream`, `chunking_strategy`) here, the rest (`language`, `prompt`, and
 * our extensions: `webhook_url`, `metadata`, `subject_id`, `delete_after_seconds`, `keyterms`, the speaker options,
 * `redact_pii` and its details) by the native upload's own rules (`resolveUploadOptions`); `provider` and `task` are
 * the model's and the route's to decide. Every refusal is a 400 naming its `param`.
 */
import {
  OPENAI_RESPONSE_FORMATS,
  type OpenAIResponseFormat,
  TIMESTAMP_GRANULARITIES,
  type TimestampGranularity,
} from "../../domain/openai-format.ts";
import type { Env } from "../../env.ts";
import type { ResolvedUploadOptions } from "../../jobs/create-job.ts";
import { resolveProvider } from "../../providers/capabilities.ts";
import type { JobTask } from "../../storage/schema.ts";
import { BooleanField } from "../schemas.ts";
import type { UploadFields, UploadLists } from "../upload-body.ts";
import { resolveUploadOptions } from "../upload-options.ts";
import { invalidParam } from "./errors.ts";
import { modelNotFound, resolveModel } from "./models.ts";

/** Our list options as the `openai` SDKs send an array in a form: one `name[]` field per entry. */
const NATIVE_LIST_FIELDS = ["keyterms[]", "redact_pii_policies[]"] as const;

/**
 * Field names that may repeat; `timestamp_granularities` (no brackets) is accepted too, as curl users send it. The
 * native list options come as `keyterms[]` / `redact_pii_policies[]` when an SDK is handed an array.
 */
const GRANULARITY_FIELDS = ["timestamp_granularities[]", "timestamp_granularities"] as const;
export const LIST_FIELDS = [...GRANULARITY_FIELDS, ...NATIVE_LIST_FIELDS] as const;

/** The job's options and how the answer is rendered. */
export interface OpenAIAudioRequest {
  options: ResolvedUploadOptions;
  /** the `model` as the caller named it */
  model: string;
  format: OpenAIResponseFormat;
  granularities: TimestampGranularity[];
  stream: boolean;
}

const OWN_FIELDS = new Set(["model", "response_format", "temperature", "stream", "chunking_strategy"]);

/** Judges the fields of a request to `task`'s route; throws ApiError 400 (OpenAI's `invalid_request_error`). */
export function resolveOpenAIAudioRequest(
  fields: UploadFields,
  lists: UploadLists,
  env: Env,
  task: JobTask,
): OpenAIAudioRequest {
  const native: UploadFields = Object.create(null);
  for (const name of Object.keys(fields)) if (!OWN_FIELDS.has(name)) native[name] = fields[name]!;
  if (Object.hasOwn(native, "provider")) {
    throw invalidParam("provider", "unknown_field", "Choose the provider with `model` (GET /v1/models lists them).");
  }
  if (Object.hasOwn(native, "task")) {
    throw invalidParam(
      "task",
      "unknown_field",
      "The route is the task: POST /v1/audio/translations translates into English, /v1/audio/transcriptions does not.",
    );
  }
  for (const list of NATIVE_LIST_FIELDS) {
    const values = lists[list];
    if (values === undefined) continue;
    const name = list.slice(0, -2);
    if (Object.hasOwn(native, name)) {
      throw invalidParam(name, "duplicate_field", `Send \`${name}\` once: as one field, or as \`${list}\` entries.`);
    }
    // judged by the native option's own rules, as the JSON array it is
    native[name] = JSON.stringify(values);
  }

  const model = fields.model;
  if (model === undefined || model === "") {
    throw invalidParam("model", "missing_model", "You must provide a model parameter (GET /v1/models lists them).");
  }
  const entry = resolveModel(env, model);
  if (!entry) throw modelNotFound(model, 400);
  // an alias goes to the first provider that can honour the task; a `<provider>/<model>` id to that one or nowhere
  // diarized_json asks for speaker labels (OpenAI: gpt-4o-transcribe-diarize); the native fields may too
  const speakerLabels = fields.response_format === "diarized_json" || formTrue(native.speaker_labels);
  const jobOptions = { task, model: entry.requestedModel, speakerLabels, multichannel: formTrue(native.multichannel) };
  const chosen = resolveProvider(env, entry.alias ? null : entry.provider, jobOptions);
  if (!chosen.ok) {
    const why =
      task === "translate"
        ? "; translations go through providers that can (OpenAI's translations endpoint with a Whisper model, " +
          "Workers AI's whisper-large-v3-turbo, a pool with a multilingual model)"
        : "";
    throw invalidParam(
      "model",
      chosen.refusal.code,
      `The model \`${model}\` cannot be used: ${chosen.refusal.message}${why}.`,
    );
  }

  const format = fields.response_format ?? "json";
  if (!(OPENAI_RESPONSE_FORMATS as readonly string[]).includes(format)) {
    throw invalidParam(
      "response_format",
      "invalid_response_format",
      `response_format must be one of ${OPENAI_RESPONSE_FORMATS.join(", ")}.`,
    );
  }

  const temperature = parseTemperature(fields.temperature);
  const granularities = parseGranularities(lists);
  const stream = parseBoolean(fields.stream, "stream");
  if (fields.chunking_strategy !== undefined && fields.chunking_strategy !== "auto") {
    throw invalidParam("chunking_strategy", "unsupported_chunking_strategy", "Only `auto` is supported.");
  }

  const options = resolveUploadOptions(
    { ...native, ...(speakerLabels ? { speaker_labels: "true" } : {}), provider: chosen.provider },
    env,
  );
  return {
    options: {
      ...options,
      task,
      requestedModel: entry.requestedModel,
      temperature,
      wordTimestamps: granularities.includes("word"),
    },
    model,
    format: format as OpenAIResponseFormat,
    granularities,
    stream,
  };
}

function parseTemperature(value: string | undefined): number | null {
  if (value === undefined) return null;
  const number = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= 0 && number <= 1)) {
    throw invalidParam("temperature", "invalid_temperature", "temperature must be a number between 0 and 1.");
  }
  return number;
}

function parseGranularities(lists: UploadLists): TimestampGranularity[] {
  const values = GRANULARITY_FIELDS.flatMap((name) => lists[name] ?? []);
  for (const value of values) {
    if (!(TIMESTAMP_GRANULARITIES as readonly string[]).includes(value)) {
      throw invalidParam(
        "timestamp_granularities[]",
        "invalid_timestamp_granularities",
        "timestamp_granularities[] takes `word` and/or `segment`.",
      );
    }
  }
  return [...new Set(values as TimestampGranularity[])];
}

/** An OpenAI boolean field, read by the native options' one boolean schema; absent = false. */
function parseBoolean(value: string | undefined, param: string): boolean {
  if (value === undefined) return false;
  const parsed = BooleanField.safeParse(value);
  if (!parsed.success) throw invalidParam(param, `invalid_${param}`, `${param} must be true or false.`);
  return parsed.data;
}

/** Whether a native boolean field says true (a malformed one is refused later, by resolveUploadOptions). */
function formTrue(value: string | undefined): boolean {
  return value !== undefined && BooleanField.safeParse(value).data === true;
}
