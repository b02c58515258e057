/** `POST /v1/admin/encryption/rewrap`: move stored data to the newest master key version (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { MAX_SHARD_WALK_CURSOR_LENGTH, WalkCursorError } from "../../domain/shard-walk.ts";
import { ApiError } from "../../http/problem.ts";
import { rewrapWalk } from "../../storage/rewrap.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { ShardFailures } from "../schemas.ts";
import { validationHook } from "../validation.ts";

export const encryption = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const RewrapQuery = z.object({
  cursor: z
    .string()
    .max(MAX_SHARD_WALK_CURSOR_LENGTH)
    .optional()
    .openapi({ description: "`next_cursor` of the previous call (opaque; a cursor from before regions still works)" }),
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
      .openapi({ description: "pass back as `cursor`; null once every region's bucket has been walked" }),
    stale_fields: z.number().int().openapi({
      description: "sealed D1 fields still under an older master version, summed over the shards that answered",
    }),
    shards: ShardFailures,
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
      "After putting a new version first in ENCRYPTION_KEYS: call until `next_cursor` is null and `stale_fields` is 0 " +
      "with `shards` empty, then the old version can be removed. The cursor walks each region's bucket in turn; " +
      "every call reseals up to `limit` fields in every job shard. A shard that fails is listed in `shards` (its " +
      "fields are missing from `stale_fields`) and is simply tried again by the next call.",
    security: [{ bearerAuth: ["admin"] }],
    request: { query: RewrapQuery },
    responses: {
      200: { description: "One batch done", content: json(RewrapResultSchema) },
      400: problem("Bad cursor or limit"),
    },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    try {
      return c.json(await rewrapWalk(c.env, { cursor, limit }), 200);
    } catch (error) {
      if (error instanceof WalkCursorError) throw new ApiError(400, "invalid_parameters", error.message);
      throw error;
    }
  },
);
