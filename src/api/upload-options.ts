/** Validation of upload options beyond their shape: provider availability and webhook URL policy. */
import { checkWebhookUrl, normaliseLanguage, parseAllowedHosts } from "@vtt/pool-contract";

import { isDevelopment } from "../config.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/problem.ts";
import type { ResolvedUploadOptions } from "../jobs/create-job.ts";
import { defaultProvider, isProviderEnabled } from "../providers/registry.ts";
import type { ProviderName } from "../providers/types.ts";
import { FIELD_ERROR_CODES, UploadOptions, type UploadOptionsParsed } from "./schemas.ts";

/** The stable code of a field's errors; own keys only, so a field named `constructor` is not Object's. */
function fieldErrorCode(field: string): string | undefined {
  return Object.hasOwn(FIELD_ERROR_CODES, field) ? FIELD_ERROR_CODES[field] : undefined;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError(422, fieldErrorCode(field) ?? "validation_failed", `${field}: ${message}`, [{ field, message }]);
}

/** Throws ApiError 422 with the first failing field's stable code and every field error listed. */
export function resolveUploadOptions(raw: Record<string, string>, env: Env): ResolvedUploadOptions {
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
  const provider = options.provider ?? defaultProvider(env);
  if (!provider || !isProviderEnabled(env, provider))
    throw invalid("provider", `\`${options.provider ?? ""}\` is not an enabled provider`);
  if (options.webhook_url) {
    const development = isDevelopment(env);
    const check = checkWebhookUrl(options.webhook_url, {
      development,
      allowedHosts: parseAllowedHosts(env.WEBHOOK_ALLOWED_HOSTS, development),
    });
    if (!check.ok) throw invalid("webhook_url", check.reason);
  }
  return {
    language: normaliseLanguage(options.language) ?? null,
    provider: provider as ProviderName,
    webhookUrl: options.webhook_url ?? null,
    metadata: options.metadata ?? {},
    subjectId: options.subject_id ?? null,
    prompt: options.prompt ?? null,
    keyterms: options.keyterms ?? [],
    deleteAfterSeconds: options.delete_after_seconds ?? null,
    task: "transcribe",
    requestedModel: null,
    temperature: null,
    wordTimestamps: false,
  };
}
