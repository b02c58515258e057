/**
 * D1 schema (drizzle). Rows stay small: transcripts (segments, words) live in R2 and are referenced by key.
 * All times are unix epoch milliseconds. Documented in docs/storage-schema.md.
 */
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    name: text("name"),
    /** first characters of the key, shown in listings so a person can tell keys apart */
    prefix: text("prefix").notNull(),
    /** hex SHA-256 of the whole key; the key itself is never stored */
    keyHash: text("key_hash").notNull(),
    /** space separated scopes */
    scopes: text("scopes").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [uniqueIndex("api_keys_key_hash_idx").on(t.keyHash), index("api_keys_tenant_idx").on(t.tenantId)],
);

export const JOB_STATUSES = ["queued", "processing", "completed", "failed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const transcriptions = sqliteTable(
  "transcriptions",
  {
    /** `tr_` + ULID: time ordered, so the primary key doubles as the pagination order */
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    status: text("status", { enum: JOB_STATUSES }).notNull(),
    provider: text("provider").notNull(),
    model: text("model"),
    /** what the caller asked for: ISO 639-1 or null for automatic detection */
    requestedLanguage: text("requested_language"),
    /** detected or confirmed language of the result */
    language: text("language"),
    durationSeconds: real("duration_seconds"),
    /** full text; null until completed */
    text: text("text"),
    /** R2 key of the transcript document (segments, words) */
    transcriptKey: text("transcript_key"),
    segmentCount: integer("segment_count"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    attempts: integer("attempts").notNull().default(0),
    /** flat JSON object of strings, ≤ 4 KB */
    metadata: text("metadata"),
    subjectId: text("subject_id"),
    prompt: text("prompt"),
    webhookUrl: text("webhook_url"),
    audioKey: text("audio_key"),
    audioBytes: integer("audio_bytes").notNull(),
    audioFormat: text("audio_format").notNull(),
    /** sanitised display name of the upload; never used as a storage key */
    fileName: text("file_name"),
    createdAt: integer("created_at").notNull(),
    /** when the job message was handed to the queue; null means it still has to be (the sweeper re-sends) */
    enqueuedAt: integer("enqueued_at"),
    startedAt: integer("started_at"),
    /** when the job was handed to the asynchronous pool */
    dispatchedAt: integer("dispatched_at"),
    completedAt: integer("completed_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("transcriptions_tenant_id_idx").on(t.tenantId, t.id),
    index("transcriptions_tenant_status_id_idx").on(t.tenantId, t.status, t.id),
    index("transcriptions_tenant_subject_idx").on(t.tenantId, t.subjectId),
    index("transcriptions_status_updated_idx").on(t.status, t.updatedAt),
  ],
);

export type TranscriptionRow = typeof transcriptions.$inferSelect;
export type NewTranscriptionRow = typeof transcriptions.$inferInsert;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
