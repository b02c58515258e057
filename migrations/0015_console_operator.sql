CREATE TABLE `health_samples` (
	`minute` integer PRIMARY KEY NOT NULL,
	`queue_depth` integer NOT NULL,
	`dead_letters` integer NOT NULL,
	`finished` integer NOT NULL,
	`failed` integer NOT NULL,
	`p50_ms` real,
	`p95_ms` real
);
