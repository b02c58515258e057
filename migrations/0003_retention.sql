ALTER TABLE `tenants` ADD `audio_retention_seconds` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `transcript_retention_seconds` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `delete_after_seconds` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `retain_audio_seconds` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `retain_seconds` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `audio_delete_at` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `delete_at` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `audio_purged_at` integer;--> statement-breakpoint
CREATE INDEX `transcriptions_audio_delete_at_idx` ON `transcriptions` (`audio_delete_at`);--> statement-breakpoint
CREATE INDEX `transcriptions_delete_at_idx` ON `transcriptions` (`delete_at`);