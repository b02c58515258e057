ALTER TABLE `transcriptions` ADD `redact_pii` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `redact_pii_policies` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `redact_pii_sub` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `redact_pii_audio` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `pii_entities` text;--> statement-breakpoint
ALTER TABLE `transcriptions` ADD `pii_audio_spans` text;