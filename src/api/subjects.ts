/** `DELETE /v1/subjects/{subject_id}`: erase one subject's recordings, transcripts and webhook records in a tenant. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app.context.ts";
import { requireScope, tenantOf } from "../auth/middleware.ts";
import { eraseSubject } from "../compliance/erasure.ts";
import { json, problem } from "./openapi.ts";
import { ErasureReceiptSchema, SubjectIdParam } from "./schemas.ts";
import { validationHook } from "./validation.ts";

export const subjects = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

subjects.openapi(
  createRoute({
    method: "delete",
    path: "/v1/subjects/{subject_id}",
    summary: "Erase every recording, transcript and webhook record of one subject in your tenant",
    description:
      "Idempotent: erasing again returns a receipt with zero counts. The receipt is kept in the audit log without " +
      "personal data.",
    security: [{ bearerAuth: ["transcriptions:write"] }],
    middleware: [requireScope("transcriptions:write")] as const,
    request: { params: z.object({ subject_id: SubjectIdParam.openapi({ param: { name: "subject_id", in: "path" } }) }) },
    responses: {
      200: { description: "Receipt", content: json(ErasureReceiptSchema) },
      400: problem("Malformed subject id"),
    },
  }),
  async (c) => {
    const receipt = await eraseSubject(c.env, c.var.db, tenantOf(c.var.principal), c.req.valid("param").subject_id);
    return c.json(receipt, 200);
  },
);
