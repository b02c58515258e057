/**
 * Routes of a tenant session, mounted at `/console/transcripts` behind sign-in; `/console` itself shows a tenant the
 * same list (tenantHome). An operator session gets 403 here: it has no tenant.
 */
import type { Context } from "hono";
import { Hono } from "hono";

import { grantsScope } from "../../auth/api-keys.ts";
import { contentRange, parseRangeHeader } from "../../domain/byte-range.ts";
import { ApiError } from "../../http/problem.ts";
import { deleteTenantTranscription } from "../../jobs/delete-job.ts";
import { isWellFormedId } from "../../lib/ids.ts";
import { qualityReport, submitFeedback } from "../../quality/feedback.ts";
import { getFeedback } from "../../storage/feedback.repo.ts";
import { listJobsPage } from "../../storage/job-listing.ts";
import { getTenantJob } from "../../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../../storage/schema.ts";
import { getSealedRange, getSealedStream, headSealed } from "../../storage/sealed-objects.ts";
import { getTenant } from "../../storage/tenants.repo.ts";
import { searchJobsPage } from "../../storage/transcript-index.ts";
import { getTranscript } from "../../storage/transcript-store.ts";
import { FeedbackCreate } from "../feedback.ts";
import { ListQuery } from "../schemas.ts";
import { decodeCursor, encodeCursor, listFilterOf, parseQuery } from "../transcriptions.ts";
import { QualityPage } from "./quality-page.tsx";
import { qualityView } from "./quality-view.ts";
import type { ConsoleEnv } from "./session.ts";
import { type ListFilterFields, TranscriptsPage } from "./tenant-pages.tsx";
import {
  EXPORT_FORMATS,
  EXPORT_MAX_JOBS,
  type ExportFormat,
  exportZip,
  renderTranscript,
  TRANSCRIPT_CONTENT_TYPES,
} from "./transcript-export.ts";
import { DOWNLOAD_FORMATS, NotFoundPage, TranscriptPage } from "./transcript-page.tsx";
import type { FeedbackOutcome } from "./views.ts";

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
/** Weeks on the tenant's quality chart. */
export const QUALITY_CHART_WEEKS = 12;

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
const tenantName = async (c: Context<ConsoleEnv>) => {
  const tenantId = c.var.session.tenantId!;
  return (await getTenant(c.var.db, tenantId))?.name ?? tenantId;
};

/** The session's tenant's job `id`, or null (another tenant's id, a malformed one, a deleted one). */
async function sessionJob(c: Context<ConsoleEnv>, id: string): Promise<TranscriptionRow | null> {
  return isWellFormedId(id, "transcription") ? getTenantJob(c.var.db, c.var.session.tenantId!, id) : null;
}

async function requireSessionJob(c: Context<ConsoleEnv>, id: string): Promise<TranscriptionRow> {
  const job = await sessionJob(c, id);
  if (!job) throw new ApiError(404, "not_found", "No transcription with that id.");
  return job;
}

function requireSessionScope(c: Context<ConsoleEnv>, scope: "admin" | "transcriptions:write"): void {
  if (!grantsScope(c.var.session.scopes, scope)) {
    throw new ApiError(403, "insufficient_scope", `This session's key lacks the ${scope} scope.`);
  }
}

const wantsJson = (c: Context<ConsoleEnv>) => (c.req.header("accept") ?? "").includes("application/json");

// the tenant's quality over time (before /:id, which it would otherwise match)
tenantConsole.get("/quality", async (c) => {
  const report = await qualityReport(c.var.db, { weeks: QUALITY_CHART_WEEKS, tenantId: c.var.session.tenantId! });
  return c.html(
    <QualityPage tenantName={await tenantName(c)} csrfToken={c.var.session.csrfToken} view={qualityView(report)} />,
  );
});

tenantConsole.get("/:id", async (c) => {
  const session = c.var.session;
  const job = await sessionJob(c, c.req.param("id"));
  if (!job) return c.html(<NotFoundPage tenantName={await tenantName(c)} csrfToken={session.csrfToken} />, 404);
  const [doc, review, name] = await Promise.all([
    job.status === "completed" && job.transcriptKey ? getTranscript(c.env, job.tenantId, job.transcriptKey) : null,
    getFeedback(c.var.db, job.tenantId, job.id),
    tenantName(c),
  ]);
  return c.html(
    <TranscriptPage
      tenantName={name}
      csrfToken={session.csrfToken}
      job={job}
      doc={doc}
      review={review ? { rating: review.rating, wer: review.wer, cer: review.cer } : null}
      canReview={grantsScope(session.scopes, "admin")}
      canDelete={grantsScope(session.scopes, "transcriptions:write")}
    />,
  );
});

/**
 * The job's audio, decrypted on the fly, with byte ranges (RFC 9110 §14) so the player can seek: a range fetches
 * and opens only the sealed segments that hold it. 410 once the retention purge (or nothing) left no audio.
 */
tenantConsole.get("/:id/audio", async (c) => {
  const job = await requireSessionJob(c, c.req.param("id"));
  const info = job.audioKey ? await headSealed(c.env, job.audioKey) : null;
  if (!job.audioKey || !info) {
    throw new ApiError(
      410,
      "audio_purged",
      job.audioPurgedAt !== null ? "The audio was deleted when its retention window ended." : "No audio is stored.",
    );
  }
  const base = { "accept-ranges": "bytes", "content-type": info.contentType, "cache-control": "private, no-store" };
  const request = parseRangeHeader(c.req.header("range"), info.size);
  if (request.kind === "unsatisfiable") {
    return c.body(null, 416, { ...base, "content-range": contentRange(null, info.size) });
  }
  if (request.kind === "whole") {
    const opened = await getSealedStream(c.env, job.tenantId, job.audioKey);
    if (!opened) throw new ApiError(410, "audio_purged", "No audio is stored.");
    return c.body(opened.body, 200, { ...base, "content-length": String(info.size) });
  }
  const { range } = request;
  const body = await getSealedRange(c.env, job.tenantId, job.audioKey, range);
  if (!body) throw new ApiError(410, "audio_purged", "No audio is stored.");
  return c.body(body, 206, {
    ...base,
    "content-length": String(range.end - range.start + 1),
    "content-range": contentRange(range, info.size),
  });
});

/** The transcript as a file, through the same renderers as `GET /v1/transcriptions/{id}/transcript`. */
tenantConsole.get("/:id/transcript", async (c) => {
  const job = await requireSessionJob(c, c.req.param("id"));
  const format = c.req.query("format") ?? "txt";
  if (!(DOWNLOAD_FORMATS as readonly string[]).includes(format)) {
    throw new ApiError(400, "invalid_format", `format must be one of ${DOWNLOAD_FORMATS.join(", ")}.`);
  }
  if (job.status !== "completed" || !job.transcriptKey) {
    throw new ApiError(
      409,
      "transcript_not_ready",
      `The job is ${job.status}; transcripts exist once it is completed.`,
    );
  }
  const doc = await getTranscript(c.env, job.tenantId, job.transcriptKey);
  if (!doc) throw new ApiError(404, "transcript_gone", "The transcript is no longer stored.");
  const body = renderTranscript(job.id, doc, format as ExportFormat);
  return c.body(body, 200, {
    "content-type": TRANSCRIPT_CONTENT_TYPES[format as ExportFormat],
    "content-disposition": `attachment; filename="${job.id}.${format}"`,
  });
});

/**
 * A review from the transcript page (CSRF-checked like every console POST): the same validation and the same
 * `submitFeedback` as `POST /v1/transcriptions/{id}/feedback`, behind the same admin scope. JSON for the feedback
 * module; a redirect back to the page for a plain form post.
 */
tenantConsole.post("/:id/feedback", async (c) => {
  requireSessionScope(c, "admin");
  const job = await requireSessionJob(c, c.req.param("id"));
  const form = await c.req.parseBody();
  const field = (name: string) => {
    const value = form[name];
    return typeof value === "string" ? value : undefined;
  };
  const reason = field("reason")?.trim();
  const parsed = FeedbackCreate.safeParse({
    rating: field("rating"),
    reason: reason ? reason : undefined,
    corrected_text: field("corrected_text"),
  });
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({
      field: issue.path.map(String).join(".") || "body",
      message: issue.message,
    }));
    throw new ApiError(422, "validation_failed", `${errors[0]!.field}: ${errors[0]!.message}`, errors);
  }
  const result = await submitFeedback(c.env, c.var.db, job.tenantId, job.id, parsed.data);
  if (!wantsJson(c)) return c.redirect(`/console/transcripts/${job.id}`, 303);
  const outcome: FeedbackOutcome = result;
  return c.json(
    {
      wer: outcome.wer,
      cer: outcome.cer,
      reference_words: outcome.reference_words,
      rating: outcome.rating,
      replaced: outcome.replaced,
    },
    result.replaced ? 200 : 201,
  );
});

/** Delete from the transcript page's two-step form: the same deletion as `DELETE /v1/transcriptions/{id}`. */
tenantConsole.post("/:id/delete", async (c) => {
  requireSessionScope(c, "transcriptions:write");
  const deleted = await deleteTenantTranscription(c.env, c.var.db, c.var.session.tenantId!, c.req.param("id"));
  if (!deleted) throw new ApiError(404, "not_found", "No transcription with that id.");
  return c.redirect("/console", 303);
});
