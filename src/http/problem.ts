/** RFC 9457 problem details with a stable machine `code`. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  /** field-level errors for 422 */
  errors?: { field: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  412: "Precondition Failed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  423: "Locked",
  429: "Too Many Requests",
  460: "Checksum Mismatch",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Thrown anywhere in request handling; the app's error handler turns it into problem+json. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly detail?: string,
    readonly errors?: { field: string; message: string }[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? code);
    this.name = "ApiError";
  }
}

export function problemBody(
  status: number,
  code: string,
  detail?: string,
  errors?: { field: string; message: string }[],
  instance?: string,
): ProblemBody {
  return {
    type: `https://docs.vtt.dev/errors/${code}`,
    title: TITLES[status] ?? "Error",
    status,
    code,
    ...(detail ? { detail } : {}),
    ...(instance ? { instance } : {}),
    ...(errors && errors.length ? { errors } : {}),
  };
}

export function problemResponse(c: Context, error: ApiError): Response {
  const body = problemBody(error.status, error.code, error.detail, error.errors, new URL(c.req.url).pathname);
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE, ...(error.headers ?? {}) },
  });
}
