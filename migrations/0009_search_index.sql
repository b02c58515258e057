-- WITHOUT ROWID added by hand: the primary key is the whole row, so no second copy of it is kept
CREATE TABLE `transcript_tokens` (
	`tenant_id` text NOT NULL,
	`token` integer NOT NULL,
	`job_id` text NOT NULL,
	`position` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `token`, `job_id`, `position`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `transcript_tokens_job_idx` ON `transcript_tokens` (`tenant_id`,`job_id`);