PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_webhook_deliveries` (
	`endpoint_id` text NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`sequence` integer NOT NULL,
	`payload` text,
	`subject_id` text,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`event_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`next_attempt_at` integer,
	`window_started_at` integer NOT NULL,
	`last_attempt_at` integer,
	`last_status` integer,
	`last_error` text,
	`delivered_at` integer,
	`claimed_by` text,
	`claimed_until` integer,
	PRIMARY KEY(`endpoint_id`, `event_id`)
);
--> statement-breakpoint
INSERT INTO `__new_webhook_deliveries`("endpoint_id", "event_id", "type", "sequence", "payload", "subject_id", "status", "attempts", "event_at", "created_at", "next_attempt_at", "window_started_at", "last_attempt_at", "last_status", "last_error", "delivered_at", "claimed_by", "claimed_until") SELECT "endpoint_id", "event_id", "type", "sequence", "payload", NULL, "status", "attempts", "event_at", "created_at", "next_attempt_at", "window_started_at", "last_attempt_at", "last_status", "last_error", "delivered_at", "claimed_by", "claimed_until" FROM `webhook_deliveries`;--> statement-breakpoint
DROP TABLE `webhook_deliveries`;--> statement-breakpoint
ALTER TABLE `__new_webhook_deliveries` RENAME TO `webhook_deliveries`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries` (`endpoint_id`,`next_attempt_at`,`sequence`,`event_at`) WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX `webhook_deliveries_failed_idx` ON `webhook_deliveries` (`endpoint_id`,`event_id`) WHERE "webhook_deliveries"."status" = 'failed';