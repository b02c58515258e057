/** `POST /v1/admin/search/reindex`: build the transcript search index for jobs it does not cover (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { MAX_SHARD_WALK_CURSOR_LENGTH, WalkCursorError } from "../../domain/shard-walk.ts";
import { ApiError } from "../../http/problem.ts";
import { reindexWalk } from "../../storage/transcript-index.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { ShardFailures } from "../schemas.ts";
import { validationHook } from "../validation.ts";

export const searchAdmin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ReindexQuery = z.object({
  cursor: z
    .string()
    .max(MAX_SHARD_WALK_CURSOR_LENGTH)
    .optional()
    .openapi({ description: "`next_cursor` of the previous call (opaque; a job id from before shards still works)" }),
  shard: z
    .string()
    .regex(/^[a-z][a-z0-9]{2}$/, "a shard code such as us0")
    .optional()
    .openapi({
      description: "walk this job shard only (to re-run a shard that failed); keep passing it with `cursor`",
    }),
  limit: z.coerce.number().int().min(1).max(200).optional().openapi({ example: 50 }),
});
const ReindexResultSchema = z
  .object({
    jobs_indexed: z.number().int(),
    words_indexed: z.number().int(),
    jobs_failed: z
      .number()
      .int()
      .openapi({ description: "transcripts that could not be opened (a master version missing from the ring)" }),
    next_cursor: z.string().nullable().openapi({
      description: "pass back as `cursor`; null once every completed job of every shard has been walked",
    }),
    shards: ShardFailures,
  })
  .openapi("ReindexResult");

searchAdmin.openapi(
  createRoute({
    method: "post",
    path: "/v1/admin/search/reindex",
    operationId: "reindexSearch",
    tags: [TAGS.admin],
    summary: "(Re-)index completed transcripts for search (one batch per call)",
    description:
      "Indexes completed jobs in id order across tenants, replacing their tokens: for transcripts completed before the " +
      "index existed, and after a master key rotation before the old version leaves ENCRYPTION_KEYS (tokens are " +
      "written under the newest version). Call until `next_cursor` is null. Each call works in one job shard, the " +
      "cursor names it: the walk covers every shard once, in placement order. A shard that fails is listed in " +
      "`shards` and the cursor moves on to the next shard; re-run it later with `shard`.",
    security: [{ bearerAuth: ["admin"] }],
    request: { query: ReindexQuery },
    responses: {
      200: { description: "One batch done", content: json(ReindexResultSchema) },
      400: problem("Bad cursor, shard or limit"),
    },
  }),
  async (c) => {
    const { cursor, shard, limit } = c.req.valid("query");
    try {
      return c.json(await reindexWalk(c.env, { cursor, shard, limit: limit ?? 50 }), 200);
    } catch (error) {
      if (error instanceof WalkCursorError) throw new ApiError(400, "invalid_parameters", error.message);
      throw error;
    }
  },
);
