/** zod-openapi validation failures become problem+json 400/422 with a stable code. */
import type { Hook } from "@hono/zod-openapi";

import { ApiError } from "../http/problem.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  const errors = result.error.issues.map((issue) => ({
    field: issue.path.map(String).join(".") || "body",
    message: issue.message,
  }));
  const target = (result as { target?: string }).target;
  // a body that is not JSON at all is malformed (400); well-formed but wrong fields are 422
  throw new ApiError(
    target === "json" ? 422 : 400,
    target === "json" ? "validation_failed" : "invalid_parameters",
    errors[0] ? `${errors[0].field}: ${errors[0].message}` : undefined,
    errors,
  );
};
