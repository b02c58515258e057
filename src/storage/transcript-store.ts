/** Transcript documents in R2 (one sealed JSON object per stored result) and the sealed inline copy of the text in D1. */
import { openField, sealField } from "../domain/envelope.ts";
import type { Env } from "../env.ts";
import type { NormalisedTranscript } from "../providers/types.ts";
import type { TranscriptionRow } from "./schema.ts";
import { getSealedBytes, masterKeys, putSealed } from "./sealed-objects.ts";

export type TranscriptDocument = NormalisedTranscript;

/** Each result gets its own key so a losing duplicate completion can delete its copy without touching the winner's. */
export const transcriptObjectKey = (tenantId: string, jobId: string, resultId: string) =>
  `transcripts/${tenantId}/${jobId}/${resultId}.json`;

export async function putTranscript(env: Env, tenantId: string, key: string, doc: TranscriptDocument): Promise<void> {
  await putSealed(env, tenantId, key, new TextEncoder().encode(JSON.stringify(doc)), "application/json");
}

export async function getTranscript(env: Env, tenantId: string, key: string): Promise<TranscriptDocument | null> {
  const bytes = await getSealedBytes(env, tenantId, key);
  if (!bytes) return null;
  return JSON.parse(new TextDecoder().decode(bytes)) as TranscriptDocument;
}

/** The inline text column is sealed with the tenant key, bound to the job id. */
export const sealInlineText = (env: Env, tenantId: string, jobId: string, text: string): Promise<string> =>
  sealField(masterKeys(env), tenantId, `transcriptions.text:${jobId}`, text);

/** The row with its inline text opened (rows without text are returned as they are). */
export async function withOpenedText<R extends Pick<TranscriptionRow, "id" | "tenantId" | "text">>(
  env: Env,
  row: R,
): Promise<R> {
  if (row.text === null) return row;
  return { ...row, text: await openField(masterKeys(env), row.tenantId, `transcriptions.text:${row.id}`, row.text) };
}
