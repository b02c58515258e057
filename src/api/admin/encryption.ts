/** `POST /v1/admin/encryption/rewrap`: move stored data to the newest master key version (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { rewrapBatch, staleFieldCount } from "../../storage/rewrap.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { validationHook } from "../validation.ts";

export const encryption = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const RewrapQuery = z.object({
  cursor: z.string().max(1024).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().openapi({ example: 100 }),
});
const RewrapResultSchema = z
  .object({
    objects_checked: z.number().int(),
    objects_rewrapped: z.number().int(),
    fields_resealed: z.number().int(),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: "pass back as `cursor`; null once the bucket has been walked" }),
    stale_fields: z.number().int().openapi({ description: "sealed D1 fields still under an older master version" }),
  })
  .openapi("RewrapResult");

encryption.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/encryption/rewrap",
    operationId: "rewrapEncryption",
    tags: [TAGS.admin],
    summary: "Move stored data to the newest encryption master key version (one batch per call)",
    description:
      "After putting a new version first in ENCRYPTION_KEYS: call until `next_cursor` is null and `stale_fields` is 0, then the old version can be removed.",
    security: [{ bearerAuth: ["admin"] }],
    request: { query: RewrapQuery },
    responses: {
      200: { description: "One batch done", content: json(RewrapResultSchema) },
      400: problem("Bad cursor or limit"),
    },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const result = await rewrapBatch(c.env, c.var.db, { cursor, limit });
    return c.json({ ...result, stale_fields: await staleFieldCount(c.env, c.var.db) }, 200);
  },
);
