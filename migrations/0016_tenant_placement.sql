ALTER TABLE `tenants` ADD `region` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `shard` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `former_shards` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `read_only_since` integer;