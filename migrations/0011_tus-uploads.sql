CREATE TABLE `resumable_uploads` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`subject_id` text,
	`job_id` text NOT NULL,
	`upload_length` integer NOT NULL,
	`idempotency_key` text,
	`request_fingerprint` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE INDEX `resumable_uploads_expires_idx` ON `resumable_uploads` (`expires_at`);--> statement-breakpoint
CREATE INDEX `resumable_uploads_tenant_subject_idx` ON `resumable_uploads` (`tenant_id`,`subject_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `resumable_uploads_tenant_idempotency_idx` ON `resumable_uploads` (`tenant_id`,`idempotency_key`);--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `upload_id` text;