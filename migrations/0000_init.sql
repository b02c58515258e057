CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text,
	`prefix` text NOT NULL,
	`key_hash` text NOT NULL,
	`scopes` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`last_used_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash_idx` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `api_keys_tenant_idx` ON `api_keys` (`tenant_id`);--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `transcriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`status` text NOT NULL,
	`provider` text NOT NULL,
	`model` text,
	`requested_language` text,
	`language` text,
	`duration_seconds` real,
	`text` text,
	`transcript_key` text,
	`segment_count` integer,
	`error_code` text,
	`error_message` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`metadata` text,
	`subject_id` text,
	`prompt` text,
	`webhook_url` text,
	`audio_key` text,
	`audio_bytes` integer NOT NULL,
	`audio_format` text NOT NULL,
	`file_name` text,
	`created_at` integer NOT NULL,
	`enqueued_at` integer,
	`started_at` integer,
	`dispatched_at` integer,
	`completed_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `transcriptions_tenant_id_idx` ON `transcriptions` (`tenant_id`,`id`);--> statement-breakpoint
CREATE INDEX `transcriptions_tenant_status_id_idx` ON `transcriptions` (`tenant_id`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `transcriptions_tenant_subject_idx` ON `transcriptions` (`tenant_id`,`subject_id`);--> statement-breakpoint
CREATE INDEX `transcriptions_status_updated_idx` ON `transcriptions` (`status`,`updated_at`);