ALTER TABLE `transcriptions` ADD `language_probability` real;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `keyterms` text;