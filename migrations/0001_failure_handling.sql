CREATE TABLE `dead_letters` (
	`job_id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`provider` text NOT NULL,
	`classification` text NOT NULL,
	`reason` text NOT NULL,
	`first_dead_at` integer NOT NULL,
	`last_dead_at` integer NOT NULL,
	`redrive_count` integer DEFAULT 0 NOT NULL,
	`next_redrive_at` integer,
	`resolved_at` integer,
	`resolution` text
);
--> statement-breakpoint
CREATE INDEX `dead_letters_pending_idx` ON `dead_letters` (`resolved_at`,`next_redrive_at`);--> statement-breakpoint
CREATE TABLE `webhook_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`job_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`status_code` integer,
	`latency_ms` integer NOT NULL,
	`error` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_attempts_event_idx` ON `webhook_attempts` (`event_id`,`attempt`);--> statement-breakpoint
CREATE INDEX `webhook_attempts_tenant_job_idx` ON `webhook_attempts` (`tenant_id`,`job_id`);--> statement-breakpoint
CREATE TABLE `webhook_events` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`job_id` text NOT NULL,
	`type` text NOT NULL,
	`url` text NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_events_job_type_idx` ON `webhook_events` (`job_id`,`type`);--> statement-breakpoint
CREATE INDEX `webhook_events_tenant_job_idx` ON `webhook_events` (`tenant_id`,`job_id`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `webhook_secret` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `webhook_secret_previous` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `webhook_secret_previous_until` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `delayed_reason` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `idempotency_key` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `request_fingerprint` text;--> statement-breakpoint
CREATE UNIQUE INDEX `transcriptions_tenant_idempotency_idx` ON `transcriptions` (`tenant_id`,`idempotency_key`);