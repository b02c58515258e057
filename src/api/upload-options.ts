/** Validation of upload options beyond their shape: provider availability and webhook URL policy. */
import { checkWebhookUrl, normaliseLanguage, parseAllowedHosts } from "@vtt/pool-contract";

import { isDevelopment } from "../config.ts";
import type { SpeakerOptions } from "../domain/speakers.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import type { ResolvedUploadOptions } from "../jobs/create-job.ts";
import {
  effectiveModel,
  preferredProvider,
  providerCanTranslate,
  type StoredAudioFacts,
  translatingProvider,
} from "../providers/capabilities.ts";
import { isProviderEnabled } from "../providers/registry.ts";
import type { ProviderName } from "../providers/types.ts";
import { FIELD_ERROR_CODES, UploadOptions, type UploadOptionsParsed } from "./schemas.ts";

/** The stable code of a field's errors; own keys only, so a field named `constructor` is not Object's. */
function fieldErrorCode(field: string): string | undefined {
  return Object.hasOwn(FIELD_ERROR_CODES, field) ? FIELD_ERROR_CODES[field] : undefined;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError(422, fieldErrorCode(field) ?? "validation_failed", `${field}: ${message}`, [{ field, message }]);
}

/**
 * 422 `translation_unsupported`: the job asks for a translation no enabled provider (or not the named one) can make.
 * The field is `task`, whose value cannot be honoured here.
 */
function translationUnsupported(message: string): ApiError {
  const detail = `${message}; translations go through OpenAI (a Whisper model), Workers AI (whisper-large-v3-turbo) or a pool with a multilingual model (POOL_MODELS)`;
  return new ApiError(422, "translation_unsupported", `task: ${detail}`, [{ field: "task", message: detail }]);
}

/**
 * Throws ApiError 422 with the first failing field's stable code and every field error listed. `audio`: what is
 * known of the stored audio once the body was read (its container and, for a multichannel WAV, its channel split),
 * so a job naming no provider goes to one that can take it.
 */
export function resolveUploadOptions(
  raw: Record<string, string>,
  env: Env,
  audio?: StoredAudioFacts,
): ResolvedUploadOptions {
  const parsed = UploadOptions.safeParse(raw);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({
      field: issue.path.length
        ? String(issue.path[0])
        : issue.code === "unrecognized_keys"
          ? issue.keys.join(",")
          : "body",
      message: issue.code === "unrecognized_keys" ? `unknown field(s): ${issue.keys.join(", ")}` : issue.message,
    }));
    const first = errors[0]!;
    const unknown = parsed.error.issues[0]?.code === "unrecognized_keys";
    const code = fieldErrorCode(first.field) ?? (unknown ? "unknown_field" : "validation_failed");
    throw new ApiError(422, code, `${first.field}: ${first.message}`, errors);
  }
  const options: UploadOptionsParsed = parsed.data;
  const speakers = resolveSpeakerOptions(options);
  const task = options.task ?? "transcribe";
  const jobOptions = {
    task,
    model: null,
    speakerLabels: speakers?.labels ?? false,
    multichannel: speakers?.multichannel ?? false,
    ...audio,
  };
  // without a named provider, the first enabled one that can honour the speaker options (else the default, where
  // the job then fails with diarization_unsupported / multichannel_unsupported); a translation only ever goes to a
  // provider that can translate; a multichannel job's container counts once it is known (the edge splits only WAV for
  // providers that take one channel at a time)
  const provider =
    options.provider ??
    (task === "translate" ? translatingProvider(env, jobOptions) : preferredProvider(env, jobOptions));
  if (task === "translate" && provider === null) throw translationUnsupported("no enabled provider can translate");
  if (!provider || !isProviderEnabled(env, provider))
    throw invalid("provider", `\`${options.provider ?? ""}\` is not an enabled provider`);
  if (task === "translate" && !providerCanTranslate(env, provider, null)) {
    const model = effectiveModel(env, provider, null);
    throw translationUnsupported(`provider ${provider} cannot translate${model ? ` with model ${model}` : ""}`);
  }
  if (options.webhook_url) {
    const development = isDevelopment(env);
    const check = checkWebhookUrl(options.webhook_url, {
      development,
      allowedHosts: parseAllowedHosts(env.WEBHOOK_ALLOWED_HOSTS, development),
    });
    if (!check.ok) throw invalid("webhook_url", check.reason);
  }
  // the redaction's details mean nothing without it: refused rather than silently ignored
  if (options.redact_pii !== true) {
    for (const field of ["redact_pii_policies", "redact_pii_sub"] as const) {
      if (options[field] !== undefined) throw invalid(field, "requires `redact_pii=true`");
    }
    if (options.redact_pii_audio === true) throw invalid("redact_pii_audio", "requires `redact_pii=true`");
  }
  const redactPii = options.redact_pii === true;
  return {
    language: normaliseLanguage(options.language) ?? null,
    provider: provider as ProviderName,
    webhookUrl: options.webhook_url ?? null,
    metadata: options.metadata ?? {},
    subjectId: options.subject_id ?? null,
    prompt: options.prompt ?? null,
    keyterms: options.keyterms ?? [],
    deleteAfterSeconds: options.delete_after_seconds ?? null,
    task,
    requestedModel: null,
    temperature: null,
    wordTimestamps: false,
    speakers,
    redactPii,
    redactPiiPolicies: redactPii ? (options.redact_pii_policies ?? null) : null,
    redactPiiSub: redactPii ? (options.redact_pii_sub ?? "entity_name") : null,
    redactPiiAudio: redactPii && options.redact_pii_audio === true,
  };
}

/**
 * The speaker options judged together (each field's shape is the schema's): counts need `speaker_labels`,
 * `speakers_expected` excludes `min_speakers`/`max_speakers`, min ≤ max, and `multichannel` excludes
 * `speaker_labels` (the channels are the speakers). Null when the job asks for neither.
 */
function resolveSpeakerOptions(options: UploadOptionsParsed): SpeakerOptions | null {
  const labels = options.speaker_labels ?? false;
  const multichannel = options.multichannel ?? false;
  const expected = options.speakers_expected ?? null;
  const min = options.min_speakers ?? null;
  const max = options.max_speakers ?? null;
  const counted = (["speakers_expected", "min_speakers", "max_speakers"] as const).find(
    (f) => options[f] !== undefined,
  );
  if (counted && !labels) throw invalid(counted, "needs speaker_labels=true");
  if (expected !== null && (min !== null || max !== null))
    throw invalid("speakers_expected", "give either speakers_expected or min_speakers/max_speakers, not both");
  if (min !== null && max !== null && min > max)
    throw invalid("min_speakers", `must not be greater than max_speakers (${min} > ${max})`);
  if (labels && multichannel)
    throw invalid(
      "multichannel",
      "cannot be combined with speaker_labels: with multichannel the channels are the speakers",
    );
  if (!labels && !multichannel) return null;
  return { labels, expected, min, max, multichannel };
}
