/**
 * Bulk export from the console: a zip of the chosen jobs' transcripts in the chosen formats, streamed as it is
 * built (client-zip stores entries without compressing, so no entry is held whole beyond its own render), with a
 * manifest naming what was exported and what was skipped (not completed, transcript gone).
 */
import { downloadZip } from "client-zip";

import { toPlainText, toSrt, toVtt } from "../../domain/subtitles.ts";
import type { Env } from "../../env.ts";
import type { Db } from "../../storage/db.ts";
import { getTenantJob } from "../../storage/jobs.repo.ts";
import { getTranscript } from "../../storage/transcript-store.ts";

export const EXPORT_FORMATS = ["txt", "srt", "vtt", "json"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const TRANSCRIPT_CONTENT_TYPES: Record<ExportFormat, string> = {
  txt: "text/plain; charset=utf-8",
  srt: "application/x-subrip; charset=utf-8",
  vtt: "text/vtt; charset=utf-8",
  json: "application/json; charset=utf-8",
};
/** Jobs one export may hold; a larger selection is refused so one request stays bounded. */
export const EXPORT_MAX_JOBS = 500;

type TranscriptDoc = NonNullable<Awaited<ReturnType<typeof getTranscript>>>;

/** The transcript in one format, as the transcript API renders it. */
export function renderTranscript(id: string, doc: TranscriptDoc, format: ExportFormat): string {
  switch (format) {
    case "json":
      return JSON.stringify({ id, ...doc });
    case "srt":
      return toSrt(doc.segments);
    case "vtt":
      return toVtt(doc.segments);
    case "txt":
      return toPlainText(doc.text, doc.segments);
  }
}

interface Manifest {
  exported: string[];
  skipped: { id: string; reason: string }[];
  formats: ExportFormat[];
  created_at: string;
}

/** Streams the zip; ids are the tenant's own (others are skipped as not found, never read). */
export function exportZip(env: Env, db: Db, tenantId: string, ids: string[], formats: ExportFormat[]): Response {
  const manifest: Manifest = { exported: [], skipped: [], formats, created_at: new Date().toISOString() };
  async function* entries() {
    for (const id of ids) {
      const row = await getTenantJob(db, tenantId, id);
      if (!row) {
        manifest.skipped.push({ id, reason: "not_found" });
        continue;
      }
      if (row.status !== "completed" || !row.transcriptKey) {
        manifest.skipped.push({ id, reason: `status_${row.status}` });
        continue;
      }
      const doc = await getTranscript(env, tenantId, row.transcriptKey);
      if (!doc) {
        manifest.skipped.push({ id, reason: "transcript_gone" });
        continue;
      }
      const lastModified = new Date(row.completedAt ?? row.updatedAt);
      for (const format of formats) {
        yield { name: `${id}.${format}`, lastModified, input: renderTranscript(id, doc, format) };
      }
      manifest.exported.push(id);
    }
    yield { name: "manifest.json", lastModified: new Date(), input: JSON.stringify(manifest, null, 2) };
  }
  return downloadZip(entries());
}
