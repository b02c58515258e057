ALTER TABLE `transcriptions` ADD `task` text DEFAULT 'transcribe' NOT NULL;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `requested_model` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `temperature` real;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `word_timestamps` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `audio_url_sealed` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `audio_url_headers_sealed` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `audio_fetched_at` integer;