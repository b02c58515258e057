/** Small builders shared by the routers' OpenAPI route definitions. */
import { z } from "@hono/zod-openapi";

import { ProblemSchema } from "./schemas.ts";

/** A problem+json response entry with its description. */
export const problem = (description: string) => ({
  description,
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
