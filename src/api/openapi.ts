/** Small builders shared by the routers' OpenAPI route definitions. */
import { z } from "@hono/zod-openapi";

import { ProblemSchema } from "./schemas.ts";

/** The tags every operation carries one of; the document lists them in this order. */
export const TAGS = {
  transcriptions: "Transcriptions",
  openai: "OpenAI-compatible",
  webhooks: "Webhooks",
  subjects: "Subjects",
  feedback: "Feedback",
  service: "Service",
  admin: "Admin",
} as const;

/** A problem+json response entry with its description (and headers, where the answer carries some). */
export const problem = (description: string, headers?: Record<string, HeaderRef>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/problem+json": { schema: ProblemSchema } },
});

/** An `application/json` content entry for a schema. */
export const json = <T extends z.ZodTypeAny>(schema: T) => ({ "application/json": { schema } });

/** Epoch milliseconds as an ISO 8601 string (null stays null). */
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The `{id}` path parameter of a transcription. */
export const IdParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C" }),
});

type HeaderRef = { $ref: string };

/**
 * Response headers, declared once under `components.headers` (src/api/openapi-document.ts registers them) and
 * referenced from every response that sends them.
 */
export const HEADER_COMPONENTS = {
  Location: {
    description: "Where the job can be read: `/v1/transcriptions/{id}`",
    schema: { type: "string", format: "uri-reference" },
  },
  RetryAfter: {
    description: "Seconds to wait before retrying (RFC 9110 delay-seconds)",
    schema: { type: "integer", minimum: 0 },
  },
  IdempotentReplayed: {
    description: "`true` when the answer replays the job an earlier request with the same `Idempotency-Key` created",
    schema: { type: "string", enum: ["true"] },
  },
  XTraceId: {
    description:
      "The W3C trace id of this request (continued from `traceparent`, or new); quote it in support requests",
    schema: { type: "string", pattern: "^[0-9a-f]{32}$" },
  },
  RateLimitPolicy: {
    description:
      'The quota policies that apply (draft-ietf-httpapi-ratelimit-headers-10), e.g. `"requests";q=600;w=60`; ' +
      "see docs/api.md for the policy names",
    schema: { type: "string" },
  },
  RateLimit: {
    description:
      'What is left of each policy (draft-ietf-httpapi-ratelimit-headers-10), e.g. `"requests";r=599;t=1`: `r` ' +
      "units remaining, `t` seconds until the quota is whole again",
    schema: { type: "string" },
  },
} satisfies Record<string, { description: string; schema: Record<string, unknown> }>;

const ref = (name: keyof typeof HEADER_COMPONENTS): HeaderRef => ({ $ref: `#/components/headers/${name}` });

export const headers = {
  location: { Location: ref("Location") },
  retryAfter: { "Retry-After": ref("RetryAfter") },
  idempotentReplayed: { "Idempotent-Replayed": ref("IdempotentReplayed") },
  traceId: { "X-Trace-Id": ref("XTraceId") },
  rateLimit: { "RateLimit-Policy": ref("RateLimitPolicy"), RateLimit: ref("RateLimit") },
} as const;

/** A 429 with `Retry-After` and the rate-limit fields. */
export const tooManyRequests = (description: string) =>
  problem(description, { ...headers.retryAfter, ...headers.rateLimit });
