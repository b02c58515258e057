CREATE TABLE `metric_snapshots` (
	`name` text PRIMARY KEY NOT NULL,
	`computed_at` integer NOT NULL,
	`families` text NOT NULL
);
