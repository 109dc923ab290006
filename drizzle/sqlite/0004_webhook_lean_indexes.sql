DROP INDEX `webhook_deliveries_status_idx`;--> statement-breakpoint
DROP INDEX `webhook_deliveries_event_idx`;--> statement-breakpoint
DROP INDEX `webhook_deliveries_due_idx`;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_failed_idx` ON `webhook_deliveries` (`endpoint_id`,`event_id`) WHERE "webhook_deliveries"."status" = 'failed';--> statement-breakpoint
CREATE INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries` (`endpoint_id`,`next_attempt_at`,`sequence`,`event_at`) WHERE "webhook_deliveries"."status" = 'pending';