CREATE TABLE "queue_places" (
	"sale_id" text NOT NULL,
	"user_id" text NOT NULL,
	"status" text NOT NULL,
	"rank" integer NOT NULL,
	"joined_at" bigint NOT NULL,
	"admission_expires_at" bigint NOT NULL,
	"drawing_position" integer,
	CONSTRAINT "queue_places_sale_id_user_id_pk" PRIMARY KEY("sale_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "queue_rooms" (
	"sale_id" text PRIMARY KEY NOT NULL,
	"epoch" integer NOT NULL,
	"drawn" boolean NOT NULL,
	"drawing_count" integer NOT NULL,
	"next_rank" integer NOT NULL,
	"served" integer NOT NULL,
	"admitted" integer NOT NULL,
	"sold_out_from" integer NOT NULL,
	"sold_out_to" integer NOT NULL,
	"credit" bigint NOT NULL,
	"pace_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "queue_places_sale_rank_idx" ON "queue_places" USING btree ("sale_id","rank");--> statement-breakpoint
CREATE INDEX "queue_places_sale_drawing_idx" ON "queue_places" USING btree ("sale_id","drawing_position") WHERE "queue_places"."drawing_position" is not null;