/** `POST /v1/admin/search/reindex`: build the transcript search index for jobs it does not cover (operator plane). */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { isWellFormedId } from "../../lib/ids.ts";
import { reindexBatch } from "../../storage/transcript-index.ts";
import { json, problem, TAGS } from "../openapi.ts";
import { validationHook } from "../validation.ts";

export const searchAdmin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ReindexQuery = z.object({
  cursor: z
    .string()
    .refine((id) => isWellFormedId(id, "transcription"), "a job id from `next_cursor`")
    .optional(),
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
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: "pass back as `cursor`; null once every completed job has been walked" }),
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
      "written under the newest version). Call until `next_cursor` is null.",
    security: [{ bearerAuth: ["admin"] }],
    request: { query: ReindexQuery },
    responses: {
      200: { description: "One batch done", content: json(ReindexResultSchema) },
      400: problem("Bad cursor or limit"),
    },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    return c.json(await reindexBatch(c.env, c.var.db, { cursor, limit: limit ?? 50 }), 200);
  },
);
