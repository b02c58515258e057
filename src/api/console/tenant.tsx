/**
 * Routes of a tenant session, mounted at `/console/transcripts` behind sign-in; `/console` itself shows a tenant the
 * same list (tenantHome). An operator session gets 403 here: it has no tenant.
 */
import type { Context } from "hono";
import { Hono } from "hono";

import { ApiError } from "../../http/problem.ts";
import { listJobsPage } from "../../storage/job-listing.ts";
import { getTenant } from "../../storage/tenants.repo.ts";
import { searchJobsPage } from "../../storage/transcript-index.ts";
import { ListQuery } from "../schemas.ts";
import { decodeCursor, encodeCursor, listFilterOf, parseQuery } from "../transcriptions.ts";
import type { ConsoleEnv } from "./session.ts";
import { type ListFilterFields, TranscriptsPage } from "./tenant-pages.tsx";
import { EXPORT_FORMATS, EXPORT_MAX_JOBS, type ExportFormat, exportZip } from "./transcript-export.ts";

/** Rows on one page of the transcripts list. */
const TRANSCRIPTS_PAGE_SIZE = 50;
const FILTER_NAMES = [
  "q",
  "status",
  "provider",
  "subject_id",
  "metadata_key",
  "metadata_value",
  "created_after",
  "created_before",
] as const satisfies readonly (keyof ListFilterFields)[];

export const tenantConsole = new Hono<ConsoleEnv>();

tenantConsole.use("*", async (c, next) => {
  if (c.var.session.kind !== "tenant") return c.text("This page belongs to a tenant session.", 403);
  await next();
});

/** The filter fields present and non-empty in `source` (a query or a form with `prefix`ed names). */
function filterFieldsOf(source: Record<string, unknown>, prefix = ""): ListFilterFields {
  const fields: ListFilterFields = {};
  for (const name of FILTER_NAMES) {
    const value = source[prefix + name];
    if (typeof value === "string" && value.trim()) fields[name] = value.trim();
  }
  return fields;
}

/** One page of the tenant's jobs under the filters, through the same code as GET /v1/transcriptions. */
async function findJobs(c: Context<ConsoleEnv>, fields: ListFilterFields, limit: number, cursor?: string) {
  const parsed = ListQuery.safeParse({ ...fields, cursor });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ApiError(400, "invalid_parameters", `${String(issue.path[0] ?? "filter")}: ${issue.message}`);
  }
  const query = parsed.data;
  const tenantId = c.var.session.tenantId!;
  const filter = listFilterOf(query);
  const beforeId = query.cursor ? decodeCursor(query.cursor) : undefined;
  return query.q === undefined
    ? listJobsPage(c.var.db, tenantId, filter, { limit, beforeId })
    : searchJobsPage(c.env, c.var.db, tenantId, { terms: parseQuery(query.q), filter, beforeId, limit });
}

/** The transcripts list: `/console` and `/console/transcripts` for a tenant session. */
export const tenantHome = async (c: Context<ConsoleEnv>) => {
  const session = c.var.session;
  const tenantId = session.tenantId!;
  const filters = filterFieldsOf(c.req.query());
  const tenant = await getTenant(c.var.db, tenantId);
  const props = { tenantName: tenant?.name ?? tenantId, csrfToken: session.csrfToken, filters };
  const notice = c.req.query("exported_none") ? "Nothing to export: no completed transcript matched." : undefined;
  try {
    const page = await findJobs(c, filters, TRANSCRIPTS_PAGE_SIZE, c.req.query("cursor") || undefined);
    const nextQuery = page.nextBeforeId
      ? new URLSearchParams({ ...filters, cursor: encodeCursor(page.nextBeforeId) }).toString()
      : null;
    return c.html(<TranscriptsPage {...props} jobs={page.rows} nextQuery={nextQuery} notice={notice} />);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 400) throw error;
    return c.html(<TranscriptsPage {...props} jobs={[]} nextQuery={null} error={error.detail} />, 400);
  }
};

tenantConsole.get("/", tenantHome);

/** Every completed job under the filters, newest first, at most `max` (then the export is refused). */
async function matchingCompletedIds(c: Context<ConsoleEnv>, fields: ListFilterFields, max: number) {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await findJobs(c, { ...fields, status: "completed" }, 100, cursor);
    ids.push(...page.rows.map((row) => row.id));
    if (ids.length > max) return null;
    if (!page.nextBeforeId) return ids;
    cursor = encodeCursor(page.nextBeforeId);
  }
}

tenantConsole.post("/export", async (c) => {
  const form = await c.req.parseBody({ all: true });
  const list = (value: unknown) => (Array.isArray(value) ? value : value === undefined ? [] : [value]);
  const formats = list(form.format).filter((v): v is ExportFormat => EXPORT_FORMATS.includes(v as ExportFormat));
  if (!formats.length) return c.text("Choose at least one format.", 400);
  const chosen = [...new Set(list(form.id).filter((v): v is string => typeof v === "string"))];
  let ids = chosen;
  if (!chosen.length) {
    const fields = filterFieldsOf(form, "filter_");
    let matched: string[] | null;
    try {
      matched = await matchingCompletedIds(c, fields, EXPORT_MAX_JOBS);
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) return c.text(error.detail ?? "Bad filter.", 400);
      throw error;
    }
    if (matched === null) {
      return c.text(`More than ${EXPORT_MAX_JOBS} transcripts match; narrow the filters or select rows.`, 413);
    }
    if (!matched.length) {
      return c.redirect(`/console/transcripts?${new URLSearchParams({ ...fields, exported_none: "1" })}`, 303);
    }
    ids = matched;
  }
  if (ids.length > EXPORT_MAX_JOBS) return c.text(`Select at most ${EXPORT_MAX_JOBS} transcripts.`, 413);
  const zip = exportZip(c.env, c.var.db, c.var.session.tenantId!, ids, formats);
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  return new Response(zip.body, {
    headers: {
      "content-type": "application/zip",
      "content-disposition": `attachment; filename="transcripts-${stamp}.zip"`,
      "cache-control": "no-store",
    },
  });
});
