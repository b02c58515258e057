/**
 * Routes of a tenant session, mounted at `/console/transcripts` behind sign-in; `/console` itself shows a tenant the
 * same list (tenantHome). An operator session gets 403 here: it has no tenant.
 */
import type { Context } from "hono";
import { Hono } from "hono";

import { grantsScope } from "../../auth/api-keys.ts";
import { contentRange, parseRangeHeader } from "../../domain/byte-range.ts";
import { toPlainText, toSrt, toVtt } from "../../domain/subtitles.ts";
import { ApiError } from "../../http/problem.ts";
import { deleteTenantTranscription } from "../../jobs/delete-job.ts";
import { isWellFormedId } from "../../lib/ids.ts";
import { qualityReport, submitFeedback } from "../../quality/feedback.ts";
import { getFeedback } from "../../storage/feedback.repo.ts";
import { getTenantJob, listTenantJobs } from "../../storage/jobs.repo.ts";
import type { TranscriptionRow } from "../../storage/schema.ts";
import { getSealedRange, getSealedStream, headSealed } from "../../storage/sealed-objects.ts";
import { getTenant } from "../../storage/tenants.repo.ts";
import { getTranscript } from "../../storage/transcript-store.ts";
import { FeedbackCreate } from "../feedback.ts";
import { QualityPage } from "./quality-page.tsx";
import { qualityView } from "./quality-view.ts";
import type { ConsoleEnv } from "./session.ts";
import { TranscriptsPage } from "./tenant-pages.tsx";
import { DOWNLOAD_FORMATS, NotFoundPage, TranscriptPage } from "./transcript-page.tsx";
import type { FeedbackOutcome } from "./views.ts";

/** Rows on the transcripts page: the newest ones (paging comes with the list filters). */
const TRANSCRIPTS_PAGE_SIZE = 50;
/** Weeks on the tenant's quality chart. */
export const QUALITY_CHART_WEEKS = 12;

export const tenantConsole = new Hono<ConsoleEnv>();

tenantConsole.use("*", async (c, next) => {
  if (c.var.session.kind !== "tenant") return c.text("This page belongs to a tenant session.", 403);
  await next();
});

/** The transcripts list: `/console` and `/console/transcripts` for a tenant session. */
export const tenantHome = async (c: Context<ConsoleEnv>) => {
  const session = c.var.session;
  const tenantId = session.tenantId!;
  const [tenant, jobs] = await Promise.all([
    getTenant(c.var.db, tenantId),
    listTenantJobs(c.var.db, tenantId, { limit: TRANSCRIPTS_PAGE_SIZE }),
  ]);
  return c.html(<TranscriptsPage tenantName={tenant?.name ?? tenantId} csrfToken={session.csrfToken} jobs={jobs} />);
};

tenantConsole.get("/", tenantHome);

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
  const attachment = (ext: string) => `attachment; filename="${job.id}.${ext}"`;
  switch (format) {
    case "json":
      return c.body(JSON.stringify({ id: job.id, ...doc }), 200, {
        "content-type": "application/json; charset=utf-8",
        "content-disposition": attachment("json"),
      });
    case "srt":
      return c.body(toSrt(doc.segments), 200, {
        "content-type": "application/x-subrip; charset=utf-8",
        "content-disposition": attachment("srt"),
      });
    case "vtt":
      return c.body(toVtt(doc.segments), 200, {
        "content-type": "text/vtt; charset=utf-8",
        "content-disposition": attachment("vtt"),
      });
    default:
      return c.body(toPlainText(doc.text, doc.segments), 200, {
        "content-type": "text/plain; charset=utf-8",
        "content-disposition": attachment("txt"),
      });
  }
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
