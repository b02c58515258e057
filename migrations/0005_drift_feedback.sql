CREATE TABLE `job_features` (
	`job_id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`created_at` integer NOT NULL,
	`completed_at` integer NOT NULL,
	`duration_seconds` real,
	`bytes` integer NOT NULL,
	`bytes_per_second` real,
	`format` text,
	`sample_rate` integer,
	`channels` integer,
	`requested_language` text,
	`detected_language` text,
	`language_mismatch` integer,
	`loudness_dbfs` real,
	`silence_ratio` real,
	`characters` integer NOT NULL,
	`words` integer NOT NULL,
	`chars_per_second` real,
	`words_per_second` real,
	`empty_transcript` integer NOT NULL,
	`segment_count` integer NOT NULL,
	`mean_confidence` real,
	`mean_no_speech_prob` real
);
--> statement-breakpoint
CREATE INDEX `job_features_provider_model_completed_idx` ON `job_features` (`provider`,`model`,`completed_at`);--> statement-breakpoint
CREATE INDEX `job_features_completed_idx` ON `job_features` (`completed_at`);--> statement-breakpoint
CREATE INDEX `job_features_tenant_idx` ON `job_features` (`tenant_id`);--> statement-breakpoint
CREATE TABLE `transcript_feedback` (
	`job_id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`rating` text NOT NULL,
	`reason` text,
	`corrected_text` text,
	`wer` real,
	`cer` real,
	`reference_words` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `transcript_feedback_updated_idx` ON `transcript_feedback` (`updated_at`);--> statement-breakpoint
CREATE INDEX `transcript_feedback_tenant_idx` ON `transcript_feedback` (`tenant_id`);