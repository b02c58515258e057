ALTER TABLE `transcriptions` ADD `speaker_labels` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `speakers_expected` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `min_speakers` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `max_speakers` integer;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `multichannel` integer DEFAULT false NOT NULL;