CREATE INDEX `codes_reservation_idx` ON `codes` (`reservation_id`) WHERE "codes"."reservation_id" is not null;--> statement-breakpoint
CREATE INDEX `reservations_sale_user_idx` ON `reservations` (`sale_id`,`user_id`);--> statement-breakpoint
CREATE INDEX `reservations_sale_keyed_idx` ON `reservations` (`sale_id`,`created_at`) WHERE "reservations"."idempotency_key" is not null;