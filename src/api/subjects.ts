/**
 * Subject erasure: erase one subject's recordings, transcripts and webhook records in a tenant.
 *
 * `POST /v1/subjects/erase` takes the subject id in the body. The subject id is personal data, and URL paths end up in
 * the platform's request logs and Logpush records, which this service does not control; a body does not.
 * `DELETE /v1/subjects/{subject_id}` stays for a deprecation period (until `SUBJECT_PATH_ERASURE_SUNSET`) and says so
 * in `Deprecation`, `Sunset` and `Link` headers.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";

import type { AppEnv } from "../app.context.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import { eraseSubject } from "../compliance/erasure.ts";
import { json, problem, TAGS } from "./openapi.ts";
import { ErasureReceiptSchema, SubjectIdParam } from "./schemas.ts";
import { validationHook } from "./validation.ts";

/** When the path form of subject erasure is removed (RFC 8594 `Sunset`). */
export const SUBJECT_PATH_ERASURE_SUNSET = new Date("2027-06-30T00:00:00Z");
/** When the path form was deprecated (RFC 9745 `Deprecation`, a structured-field date in epoch seconds). */
export const SUBJECT_PATH_ERASURE_DEPRECATED = new Date("2026-12-01T00:00:00Z");

export const subjects = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const description =
  "Idempotent: erasing again returns a receipt with zero counts. The receipt is kept in the audit log without " +
  "personal data.";

const SubjectErasureRequest = z.object({ subject_id: SubjectIdParam }).strict().openapi("SubjectErasureRequest");

subjects.openapi(
  createRoute({
    method: "post",
    path: "/v1/subjects/erase",
    operationId: "eraseSubject",
    tags: [TAGS.subjects],
    summary: "Erase every recording, transcript and webhook record of one subject in your tenant",
    description: `${description} The subject id travels in the body, so it never appears in a URL or a request log.`,
    security: [{ bearerAuth: ["transcriptions:write"] }],
    middleware: [requireScope("transcriptions:write")] as const,
    request: { body: { content: json(SubjectErasureRequest), required: true } },
    responses: {
      200: { description: "Receipt", content: json(ErasureReceiptSchema) },
      400: problem("Body is not JSON"),
      422: problem("Malformed subject id or unknown field"),
    },
  }),
  async (c) => {
    const receipt = await eraseSubject(c.env, c.var.db, tenantOf(c.var.principal), c.req.valid("json").subject_id);
    return c.json(receipt, 200);
  },
);

/** RFC 9745 / RFC 8594 headers that point a caller of the path form at its successor. */
function markDeprecated(c: Context<AppEnv>): void {
  c.header("Deprecation", `@${Math.floor(SUBJECT_PATH_ERASURE_DEPRECATED.getTime() / 1000)}`);
  c.header("Sunset", SUBJECT_PATH_ERASURE_SUNSET.toUTCString());
  c.header("Link", '</v1/subjects/erase>; rel="successor-version"');
}

subjects.openapi(
  createRoute({
    method: "delete",
    path: "/v1/subjects/{subject_id}",
    operationId: "deleteSubject",
    tags: [TAGS.subjects],
    summary: "Deprecated: use POST /v1/subjects/erase (the subject id in a path reaches request logs)",
    description:
      `${description} Deprecated: answers with \`Deprecation\`, \`Sunset\` and \`Link\` headers and is removed ` +
      "after the sunset date.",
    deprecated: true,
    security: [{ bearerAuth: ["transcriptions:write"] }],
    middleware: [requireScope("transcriptions:write")] as const,
    request: {
      params: z.object({ subject_id: SubjectIdParam.openapi({ param: { name: "subject_id", in: "path" } }) }),
    },
    responses: {
      200: {
        description: "Receipt",
        headers: {
          Deprecation: {
            description: "RFC 9745: when this form was deprecated (`@<epoch seconds>`)",
            schema: { type: "string" },
          },
          Sunset: { description: "RFC 8594: when this form is removed (HTTP-date)", schema: { type: "string" } },
          Link: {
            description: 'The successor: `</v1/subjects/erase>; rel="successor-version"`',
            schema: { type: "string" },
          },
        },
        content: json(ErasureReceiptSchema),
      },
      400: problem("Malformed subject id"),
    },
  }),
  async (c) => {
    const receipt = await eraseSubject(c.env, c.var.db, tenantOf(c.var.principal), c.req.valid("param").subject_id);
    markDeprecated(c);
    return c.json(receipt, 200);
  },
);
