ALTER TABLE `transcriptions` ADD `traceparent` text;--> statement-breakpoint
CREATE INDEX `transcriptions_completed_at_idx` ON `transcriptions` (`completed_at`);--> statement-breakpoint
CREATE INDEX `webhook_events_created_at_idx` ON `webhook_events` (`created_at`);