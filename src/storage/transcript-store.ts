/** Transcript documents in R2: one JSON object per stored result. */
import type { NormalisedTranscript } from "../providers/types.ts";

export type TranscriptDocument = NormalisedTranscript;

/** Each result gets its own key so a losing duplicate completion can delete its copy without touching the winner's. */
export const transcriptObjectKey = (tenantId: string, jobId: string, resultId: string) =>
  `transcripts/${tenantId}/${jobId}/${resultId}.json`;

export async function putTranscript(bucket: R2Bucket, key: string, doc: TranscriptDocument): Promise<void> {
  await bucket.put(key, JSON.stringify(doc), { httpMetadata: { contentType: "application/json" } });
}

export async function getTranscript(bucket: R2Bucket, key: string): Promise<TranscriptDocument | null> {
  const object = await bucket.get(key);
  if (!object) return null;
  return (await object.json()) as TranscriptDocument;
}
