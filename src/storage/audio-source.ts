/**
 * The sealed source of an `audio_url` job: the URL and its `audio_url_headers` live in D1 only as tenant-key sealed
 * fields (src/domain/envelope.ts), each bound to its column and job id so a value copied to another row does not open.
 */
import { openField, sealField } from "../domain/envelope.ts";
import type { Env } from "../env.ts";
import type { TranscriptionRow } from "./schema.ts";
import { masterKeys } from "./sealed-objects.ts";

/** What the Worker fetches: the submitted URL and the headers to send to its origin. */
export interface AudioUrlSource {
  url: string;
  headers: Record<string, string>;
}

export interface SealedAudioUrlSource {
  audioUrlSealed: string;
  /** null when no headers were sent */
  audioUrlHeadersSealed: string | null;
}

const urlContext = (jobId: string) => `transcriptions.audio_url:${jobId}`;
const headersContext = (jobId: string) => `transcriptions.audio_url_headers:${jobId}`;

export async function sealAudioUrlSource(
  env: Env,
  tenantId: string,
  jobId: string,
  source: AudioUrlSource,
): Promise<SealedAudioUrlSource> {
  const ring = masterKeys(env);
  const hasHeaders = Object.keys(source.headers).length > 0;
  return {
    audioUrlSealed: await sealField(ring, tenantId, urlContext(jobId), source.url),
    audioUrlHeadersSealed: hasHeaders
      ? await sealField(ring, tenantId, headersContext(jobId), JSON.stringify(source.headers))
      : null,
  };
}

/** The job's source opened, or null for an uploaded job. */
export async function openAudioUrlSource(
  env: Env,
  row: Pick<TranscriptionRow, "id" | "tenantId" | "audioUrlSealed" | "audioUrlHeadersSealed">,
): Promise<AudioUrlSource | null> {
  if (row.audioUrlSealed === null) return null;
  const ring = masterKeys(env);
  const url = await openField(ring, row.tenantId, urlContext(row.id), row.audioUrlSealed);
  const headers =
    row.audioUrlHeadersSealed === null
      ? {}
      : (JSON.parse(await openField(ring, row.tenantId, headersContext(row.id), row.audioUrlHeadersSealed)) as Record<
          string,
          string
        >);
  return { url, headers };
}

/**
 * The row with the host of its audio URL (`audioUrlHost`), the only part of the URL the API shows: null for uploads,
 * and for a source that no longer opens (its master key version was retired).
 */
export async function withAudioUrlHost<
  R extends Pick<TranscriptionRow, "id" | "tenantId" | "audioUrlSealed" | "audioUrlHeadersSealed">,
>(env: Env, row: R): Promise<R & { audioUrlHost: string | null }> {
  if (row.audioUrlSealed === null) return { ...row, audioUrlHost: null };
  const url = await openField(masterKeys(env), row.tenantId, urlContext(row.id), row.audioUrlSealed).catch(() => null);
  return { ...row, audioUrlHost: url === null ? null : hostOf(url) };
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname;
  } catch {
    return null;
  }
}
