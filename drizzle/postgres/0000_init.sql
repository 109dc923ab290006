CREATE TABLE "codes" (
	"ordinal" bigserial PRIMARY KEY NOT NULL,
	"sale_id" text NOT NULL,
	"item_id" text NOT NULL,
	"code" text NOT NULL,
	"reservation_id" text
);
--> statement-breakpoint
CREATE TABLE "items" (
	"sale_id" text NOT NULL,
	"id" text NOT NULL,
	"position" integer NOT NULL,
	"name" text NOT NULL,
	"price" bigint NOT NULL,
	"currency" text NOT NULL,
	"delivery" text NOT NULL,
	"stock" bigint NOT NULL,
	"available" bigint NOT NULL,
	"held" bigint NOT NULL,
	"confirmed" bigint NOT NULL,
	CONSTRAINT "items_sale_id_id_pk" PRIMARY KEY("sale_id","id")
);
--> statement-breakpoint
CREATE TABLE "journal_progress" (
	"journal_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payments" (
	"sale_id" text NOT NULL,
	"event_id" text NOT NULL,
	"payment_id" text NOT NULL,
	"reservation_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"outcome" text NOT NULL,
	"received_at" bigint NOT NULL,
	CONSTRAINT "payments_sale_id_event_id_pk" PRIMARY KEY("sale_id","event_id")
);
--> statement-breakpoint
CREATE TABLE "reservations" (
	"id" text PRIMARY KEY NOT NULL,
	"sale_id" text NOT NULL,
	"item_id" text NOT NULL,
	"user_id" text NOT NULL,
	"quantity" integer NOT NULL,
	"status" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	"ended_at" bigint DEFAULT 0 NOT NULL,
	"payment_id" text,
	"idempotency_key" text,
	"fingerprint" text
);
--> statement-breakpoint
CREATE TABLE "sales" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"starts_at" bigint NOT NULL,
	"ends_at" bigint NOT NULL,
	"hold_seconds" integer NOT NULL,
	"limit_per_user" integer NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "codes_item_code_idx" ON "codes" USING btree ("sale_id","item_id","code");--> statement-breakpoint
CREATE INDEX "payments_sale_outcome_idx" ON "payments" USING btree ("sale_id","outcome");--> statement-breakpoint
CREATE INDEX "reservations_sale_id_idx" ON "reservations" USING btree ("sale_id","id");--> statement-breakpoint
CREATE INDEX "reservations_sale_status_idx" ON "reservations" USING btree ("sale_id","status","id");