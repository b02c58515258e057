/** `@vtt/client`: the typed API client, its helpers and webhook verification (Node, browsers, Workers). */
export {
  createVttClient,
  type JobStatus,
  type ListQuery,
  MAX_PREFER_WAIT_SECONDS,
  TERMINAL_STATUSES,
  type TranscribeOptions,
  type TranscriptFormat,
  type Transcription,
  type TranscriptionFields,
  type TranscriptionList,
  VttClient,
  type VttClientOptions,
  type WaitForOptions,
} from "./client.ts";
export { parseRetryAfter, type Problem, VttError, WaitTimeoutError } from "./errors.ts";
export { DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER_SECONDS, type RetryInfo, type RetryOptions } from "./retry.ts";
export type { components, paths } from "./schema.d.ts";
export type { AudioInput, UploadProgress } from "./upload.ts";
export {
  verifyWebhook,
  type VerifyWebhookOptions,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookEvent,
  type WebhookHeaders,
  WebhookVerificationError,
} from "./webhooks.ts";
