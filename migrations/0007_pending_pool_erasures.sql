CREATE TABLE `pending_pool_erasures` (
	`job_id` text PRIMARY KEY NOT NULL,
	`requested_at` integer NOT NULL,
	`attempts` integer DEFAULT 1 NOT NULL,
	`next_attempt_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pending_pool_erasures_next_idx` ON `pending_pool_erasures` (`next_attempt_at`);