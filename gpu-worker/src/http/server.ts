/**
 * The pool's HTTP surface: the bridge ingress (`POST /v1/jobs`), erasure (`DELETE /v1/jobs/{job_id}`), audio
 * redaction (`POST /v1/redactions`, answered once the redacted copy is stored at the edge), `/healthz`,
 * `/readyz` (open: probes carry no credentials, and they say nothing beyond up/ready) and `/metrics` (Bearer
 * METRICS_TOKEN, or loopback only without one).
 * Errors are RFC 9457 problem+json with a stable `code`, like the edge's.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

import {
  type DispatchAccepted,
  type ErasureResponse,
  erasureSigningString,
  fieldErrors,
  type RedactionRequest,
  RedactionRequestSchema,
  type RedactionResponse,
  type SigningKey,
  timingSafeEqual,
  verifySignedRequest,
} from "@vtt/pool-contract";

import { type Dispatch, type FieldError, isValidJobId, validateDispatch } from "../bridge/dispatch.ts";
import type { OptionsRefusal } from "../bridge/options.ts";
import { isLoopbackHost } from "../config.ts";
import { toPoolJobError } from "../errors.ts";
import { type Logger, traceIdFromTraceparent } from "../log.ts";
import type { PoolMetrics } from "../metrics.ts";
import type { ErasureOutcome } from "../queue/erase.ts";
import type { EnqueueOutcome } from "../queue/queues.ts";

/** Largest dispatch body accepted (a dispatch is a few hundred bytes; the prompt is capped at 2000 characters). */
export const MAX_DISPATCH_BYTES = 64 * 1024;
/** Largest redaction request accepted (10,000 spans of two numbers each stay well under it). */
export const MAX_REDACTION_REQUEST_BYTES = 1024 * 1024;
const PROBLEM_CONTENT_TYPE = "application/problem+json";
const JOB_PATH = /^\/v1\/jobs\/([^/]+)$/;

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** What the HTTP layer needs from the rest of the pool. */
export interface HttpDeps {
  bridgeKeys: SigningKey[];
  signatureToleranceSeconds: number;
  enqueue: (dispatch: Dispatch) => Promise<EnqueueOutcome>;
  /** Why the pool cannot honour a dispatch's model or task (bridge/options.ts), or null. */
  refuseOptions: (dispatch: Dispatch) => OptionsRefusal | null;
  /** Removes every trace of a job from Redis (queue/erase.ts). */
  erase: (jobId: string) => Promise<ErasureOutcome>;
  /** Fetches, tones and uploads one job's audio (audio/redact.ts); resolves once the edge stored the copy. */
  redact: (request: RedactionRequest) => Promise<RedactionResponse>;
  /** Redactions run at once (MAX_CONCURRENT_REDACTIONS); more answer `503 redaction_busy`. */
  maxConcurrentRedactions: number;
  /** Why the pool is not ready, or null when it is. */
  notReadyReason: () => string | null;
  readinessDetail: () => Record<string, unknown>;
  metrics: PoolMetrics;
  /** Bearer token `/metrics` requires; null serves it only on a loopback listener. */
  metricsToken: string | null;
  logger: Logger;
}

/** Starts the HTTP server; resolves with its URL once listening. */
export async function startHttpServer(
  host: string,
  port: number,
  deps: HttpDeps,
): Promise<{ server: http.Server; url: string }> {
  const loopback = isLoopbackHost(host);
  if (!deps.metricsToken && !loopback) {
    const note = "HOST is not loopback and METRICS_TOKEN is unset: /metrics answers 403";
    deps.logger.warn("metrics_disabled", { host, note });
  }
  const server = http.createServer((request, response) => {
    route(request, response, deps, loopback).catch((error: unknown) => {
      deps.logger.error("http_unhandled", { error, path: request.url });
      if (!response.headersSent) sendProblem(response, 500, "internal_error", "Unexpected error.");
      else response.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return { server, url: `http://${shownHost}:${address.port}` };
}

async function route(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  deps: HttpDeps,
  loopback: boolean,
): Promise<void> {
  const path = new URL(request.url ?? "/", "http://pool").pathname;
  if (path === "/v1/jobs") {
    if (request.method !== "POST")
      return sendProblem(response, 405, "method_not_allowed", "Use POST.", { allow: "POST" });
    return ingress(request, response, deps);
  }
  if (path === "/v1/redactions") {
    if (request.method !== "POST")
      return sendProblem(response, 405, "method_not_allowed", "Use POST.", { allow: "POST" });
    return redaction(request, response, deps);
  }
  const jobPath = JOB_PATH.exec(path);
  if (jobPath) {
    if (request.method !== "DELETE")
      return sendProblem(response, 405, "method_not_allowed", "Use DELETE.", { allow: "DELETE" });
    return erasure(request, response, deps, jobPath[1]!);
  }
  if (path === "/healthz" && request.method === "GET") return sendJson(response, 200, { status: "ok" });
  if (path === "/readyz" && request.method === "GET") {
    const reason = deps.notReadyReason();
    return sendJson(response, reason ? 503 : 200, {
      status: reason ? "not_ready" : "ready",
      ...(reason ? { reason } : {}),
      ...deps.readinessDetail(),
    });
  }
  if (path === "/metrics" && request.method === "GET") {
    if (deps.metricsToken) {
      const authorization = headerValue(request, "authorization") ?? "";
      if (!timingSafeEqual(authorization, `Bearer ${deps.metricsToken}`)) {
        return sendProblem(response, 401, "invalid_metrics_token", "Send the METRICS_TOKEN as a Bearer token.", {
          "www-authenticate": 'Bearer realm="metrics"',
        });
      }
    } else if (!loopback) {
      const detail = "Set METRICS_TOKEN to serve /metrics on a non-loopback address.";
      return sendProblem(response, 403, "metrics_token_required", detail);
    }
    const body = await deps.metrics.registry.metrics();
    response.writeHead(200, { "content-type": deps.metrics.registry.contentType });
    response.end(body);
    return;
  }
  sendProblem(response, 404, "not_found", `No route for ${request.method} ${path}.`);
}

/** `POST /v1/jobs`: verify the signature over the raw body, validate, enqueue (idempotent), answer 202. */
async function ingress(request: http.IncomingMessage, response: http.ServerResponse, deps: HttpDeps): Promise<void> {
  const reject = (status: number, code: string, detail: string, errors?: FieldError[]): void => {
    deps.metrics.dispatches.inc({ outcome: status === 503 ? "unavailable" : "rejected" });
    sendProblem(response, status, code, detail, undefined, errors);
  };
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > MAX_DISPATCH_BYTES)
    return reject(413, "payload_too_large", `Dispatch bodies are at most ${MAX_DISPATCH_BYTES} bytes.`);
  const raw = await readBody(request, MAX_DISPATCH_BYTES);
  if (raw === null) return reject(413, "payload_too_large", `Dispatch bodies are at most ${MAX_DISPATCH_BYTES} bytes.`);
  const verified = await verifySignedRequest(deps.bridgeKeys, { get: (name) => headerValue(request, name) }, raw, {
    toleranceSeconds: deps.signatureToleranceSeconds,
  });
  if (!verified.ok) {
    const stale = verified.reason === "stale_signature";
    deps.logger.warn("dispatch_unauthorized", {
      reason: verified.reason,
      key_id: headerValue(request, "x-vtt-key-id"),
    });
    return reject(
      401,
      stale ? "stale_signature" : "invalid_signature",
      stale ? "The signature timestamp is too far from now." : "The request signature is not valid.",
    );
  }
  const contentType = headerValue(request, "content-type") ?? "";
  if (!/^application\/json\b/i.test(contentType))
    return reject(415, "unsupported_media_type", "Send application/json.");
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return reject(400, "malformed_json", "The body is not valid JSON.");
  }
  const validation = validateDispatch(body);
  if (!validation.ok) return reject(400, "invalid_dispatch", "The dispatch body does not validate.", validation.errors);
  const dispatch = validation.dispatch;
  if (dispatch.audio_expires_at * 1000 <= Date.now()) {
    return reject(400, "audio_url_expired", "The audio URL has already expired; dispatch again with a fresh one.");
  }
  const refusal = deps.refuseOptions(dispatch);
  if (refusal) return reject(400, refusal.code, refusal.detail);
  const log = deps.logger.child({ job_id: dispatch.job_id, trace_id: traceIdFromTraceparent(dispatch.traceparent) });
  let outcome: EnqueueOutcome;
  try {
    outcome = await deps.enqueue(dispatch);
  } catch (error) {
    log.error("dispatch_enqueue_failed", { error });
    return reject(503, "queue_unavailable", "The job queue is unreachable; retry later.");
  }
  deps.metrics.dispatches.inc({ outcome: outcome.duplicate ? "duplicate" : "accepted" });
  log.info(outcome.duplicate ? "dispatch_duplicate" : "dispatch_accepted", { key_id: verified.keyId });
  const accepted: DispatchAccepted = { job_id: dispatch.job_id, status: "queued", duplicate: outcome.duplicate };
  sendJson(response, 202, accepted);
}

/**
 * `DELETE /v1/jobs/{job_id}`: verify the signature over {@link erasureSigningString}, validate the id, erase the job
 * (idempotent), answer 200 `{ job_id, erased, state, callback }`. Any request body is ignored.
 */
async function erasure(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  deps: HttpDeps,
  segment: string,
): Promise<void> {
  request.resume();
  let jobId: string;
  try {
    jobId = decodeURIComponent(segment);
  } catch {
    jobId = segment;
  }
  const verified = await verifySignedRequest(
    deps.bridgeKeys,
    { get: (name) => headerValue(request, name) },
    erasureSigningString(jobId),
    {
      toleranceSeconds: deps.signatureToleranceSeconds,
    },
  );
  if (!verified.ok) {
    const stale = verified.reason === "stale_signature";
    deps.metrics.erasures.inc({ outcome: "rejected" });
    deps.logger.warn("erasure_unauthorized", { reason: verified.reason, key_id: headerValue(request, "x-vtt-key-id") });
    return sendProblem(
      response,
      401,
      stale ? "stale_signature" : "invalid_signature",
      stale ? "The signature timestamp is too far from now." : "The request signature is not valid.",
    );
  }
  if (!isValidJobId(jobId)) {
    deps.metrics.erasures.inc({ outcome: "rejected" });
    return sendProblem(
      response,
      400,
      "invalid_job_id",
      "The job id must be 1-64 characters of A-Z a-z 0-9 _ - (not only digits).",
    );
  }
  let outcome: ErasureOutcome;
  try {
    outcome = await deps.erase(jobId);
  } catch (error) {
    deps.metrics.erasures.inc({ outcome: "unavailable" });
    deps.logger.error("erasure_failed", { job_id: jobId, error });
    return sendProblem(response, 503, "queue_unavailable", "The job queue is unreachable; retry later.");
  }
  deps.metrics.erasures.inc({ outcome: outcome.pending ? "pending" : outcome.erased ? "erased" : "absent" });
  deps.logger.info("job_erased", { job_id: jobId, key_id: verified.keyId, ...outcome });
  const answer: ErasureResponse = {
    job_id: jobId,
    erased: outcome.erased,
    state: outcome.state,
    callback: outcome.callback,
  };
  sendJson(response, 200, answer);
}

/** The HTTP status of each redaction failure: the audio's fault (422, terminal) or a passing one (502, retry). */
const REDACTION_FAILURE_STATUS: Record<string, number> = {
  invalid_audio: 422,
  audio_gone: 422,
  audio_url_refused: 400,
};

let redactionsRunning = 0;

/**
 * `POST /v1/redactions` (docs/pool-contract.md §5): verify the signature over the raw body, validate, then fetch,
 * tone and upload the audio while the request waits; `200` once the edge confirmed the stored copy.
 */
async function redaction(request: http.IncomingMessage, response: http.ServerResponse, deps: HttpDeps): Promise<void> {
  const tooLarge = `Redaction requests are at most ${MAX_REDACTION_REQUEST_BYTES} bytes.`;
  if (Number(request.headers["content-length"] ?? 0) > MAX_REDACTION_REQUEST_BYTES)
    return sendProblem(response, 413, "payload_too_large", tooLarge);
  const raw = await readBody(request, MAX_REDACTION_REQUEST_BYTES);
  if (raw === null) return sendProblem(response, 413, "payload_too_large", tooLarge);
  const verified = await verifySignedRequest(deps.bridgeKeys, { get: (name) => headerValue(request, name) }, raw, {
    toleranceSeconds: deps.signatureToleranceSeconds,
  });
  if (!verified.ok) {
    const stale = verified.reason === "stale_signature";
    deps.logger.warn("redaction_unauthorized", {
      reason: verified.reason,
      key_id: headerValue(request, "x-vtt-key-id"),
    });
    return sendProblem(
      response,
      401,
      stale ? "stale_signature" : "invalid_signature",
      stale ? "The signature timestamp is too far from now." : "The request signature is not valid.",
    );
  }
  if (!/^application\/json\b/i.test(headerValue(request, "content-type") ?? ""))
    return sendProblem(response, 415, "unsupported_media_type", "Send application/json.");
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return sendProblem(response, 400, "malformed_json", "The body is not valid JSON.");
  }
  const parsed = RedactionRequestSchema.safeParse(body);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error);
    return sendProblem(response, 400, "invalid_redaction", "The redaction body does not validate.", undefined, errors);
  }
  const redactionRequest = parsed.data;
  if (redactionRequest.audio_expires_at * 1000 <= Date.now())
    return sendProblem(response, 400, "audio_url_expired", "The audio URL has already expired.");
  if (redactionsRunning >= deps.maxConcurrentRedactions)
    return sendProblem(response, 503, "redaction_busy", "This pool is running as many redactions as it may.", {
      "retry-after": "5",
    });
  const log = deps.logger.child({ job_id: redactionRequest.job_id });
  const started = performance.now();
  redactionsRunning++;
  try {
    const answer = await deps.redact(redactionRequest);
    log.info("redaction_stored", { ...answer, spans: redactionRequest.spans.length, ms: performance.now() - started });
    sendJson(response, 200, answer);
  } catch (error) {
    const failure = toPoolJobError(error);
    const status = REDACTION_FAILURE_STATUS[failure.code] ?? (failure.retryable ? 502 : 422);
    log.warn("redaction_failed", { code: failure.code, retryable: failure.retryable, error: failure.message });
    sendProblem(response, status, failure.code, failure.message);
  } finally {
    redactionsRunning--;
  }
}

/** Reads the body as UTF-8, or null once it exceeds `limit` bytes. */
function readBody(request: http.IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function headerValue(request: http.IncomingMessage, name: string): string | null {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}

function sendProblem(
  response: http.ServerResponse,
  status: number,
  code: string,
  detail: string,
  headers?: Record<string, string>,
  errors?: FieldError[],
): void {
  response.writeHead(status, { "content-type": PROBLEM_CONTENT_TYPE, "cache-control": "no-store", ...headers });
  response.end(
    JSON.stringify({
      type: `https://docs.vtt.dev/errors/${code}`,
      title: TITLES[status] ?? "Error",
      status,
      code,
      detail,
      ...(errors ? { errors } : {}),
    }),
  );
}
