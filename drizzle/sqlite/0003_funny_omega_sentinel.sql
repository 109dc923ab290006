DROP INDEX `reservations_sale_user_idx`;--> statement-breakpoint
CREATE INDEX `reservations_sale_user_ended_idx` ON `reservations` (`sale_id`,`user_id`) WHERE "reservations"."status" <> 'held';