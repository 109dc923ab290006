CREATE TABLE `codes` (
	`ordinal` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`sale_id` text NOT NULL,
	`item_id` text NOT NULL,
	`code` text NOT NULL,
	`reservation_id` text
);
--> statement-breakpoint
CREATE INDEX `codes_item_code_idx` ON `codes` (`sale_id`,`item_id`,`code`);--> statement-breakpoint
CREATE TABLE `items` (
	`sale_id` text NOT NULL,
	`id` text NOT NULL,
	`position` integer NOT NULL,
	`name` text NOT NULL,
	`price` integer NOT NULL,
	`currency` text NOT NULL,
	`delivery` text NOT NULL,
	`stock` integer NOT NULL,
	`available` integer NOT NULL,
	`held` integer NOT NULL,
	`confirmed` integer NOT NULL,
	PRIMARY KEY(`sale_id`, `id`)
);
--> statement-breakpoint
CREATE TABLE `journal_progress` (
	`journal_id` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `payments` (
	`sale_id` text NOT NULL,
	`event_id` text NOT NULL,
	`payment_id` text NOT NULL,
	`reservation_id` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`status` text NOT NULL,
	`outcome` text NOT NULL,
	`received_at` integer NOT NULL,
	PRIMARY KEY(`sale_id`, `event_id`)
);
--> statement-breakpoint
CREATE INDEX `payments_sale_outcome_idx` ON `payments` (`sale_id`,`outcome`);--> statement-breakpoint
CREATE TABLE `reservations` (
	`id` text PRIMARY KEY NOT NULL,
	`sale_id` text NOT NULL,
	`item_id` text NOT NULL,
	`user_id` text NOT NULL,
	`quantity` integer NOT NULL,
	`status` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`ended_at` integer DEFAULT 0 NOT NULL,
	`payment_id` text,
	`idempotency_key` text,
	`fingerprint` text
);
--> statement-breakpoint
CREATE INDEX `reservations_sale_id_idx` ON `reservations` (`sale_id`,`id`);--> statement-breakpoint
CREATE INDEX `reservations_sale_status_idx` ON `reservations` (`sale_id`,`status`,`id`);--> statement-breakpoint
CREATE TABLE `sales` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`starts_at` integer NOT NULL,
	`ends_at` integer NOT NULL,
	`hold_seconds` integer NOT NULL,
	`limit_per_user` integer NOT NULL,
	`paused` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL
);
