// The transactional outbox: the deliveries one write-behind batch creates. Each store's apply
// transaction asks OutboxPlan.of what the batch could emit for the endpoints subscribed now, reads
// the counts of the sales it touches (for sale.sold_out) before applying the batch, and inserts what
// `build` returns in the same transaction. So exactly the journal's facts become events, each once (a
// replay skips what the progress row covers), and a killed server loses none: the deliveries commit
// with the rows they describe or not at all.
//
// A reservation's event is stored without its body: the body is made from the reservation's row
// (fields that never change once a hold is placed, and codes that never change once delivered) and
// the status the event's type gives, so it is the same whenever it is made. The store makes it when
// a sender first claims the delivery and keeps it from then on (webhook-rows.ts). This keeps the
// write-behind's share to one small row per event, where a body in every row cost 3 times the batch:
// the request thread's machine pays for it while holds pour in, and a slow endpoint's backlog would
// hold bodies nobody may ever read. Bodies that depend on the moment (a sale's counts when it sold
// out) or carry their own data (a payment) are made here.
//
// Pure, like the ledger: no I/O and no clock inside; the caller passes the rows and `now`.
//
// Event ids are made from the journal and the event's sequence number, `evt_<journalId>_<seq>`, so
// the id is the same on every retry and on every endpoint. A journal's sequence numbers never repeat
// (a fresh journal starts past what the store has applied for it), and a `sale.sold_out` derived
// from an event gets that event's id with a suffix. The number has a fixed width, so that ids sort
// in the order they are made: the deliveries' primary key then grows at its end, where unpadded
// numbers ("..._10" before "..._9") scattered its inserts and cost 2-4 times more per delivery.

import type { JournalEntry } from "../journal/journal.ts";
import type { Payment, Reservation, SaleEvent, SalePatch, SaleSpec } from "../ledger/types.ts";
import { reservationView } from "../ledger/views.ts";
import type { WebhookEventType } from "./event-types.ts";

export type Subscription = { endpointId: string; events: ReadonlySet<WebhookEventType> };

/** What never changes of a reservation once placed: everything its view shows but status and codes. */
export type ReservationBase = Omit<Reservation, "status" | "codes" | "endedAt" | "paymentId">;

export type SaleItemBase = { id: string; name: string; price: number; currency: string; available: number };
/** A sale as its public view needs it, with every item (in position order) and its available units. */
export type SaleBase = { id: string; name: string; startsAt: number; endsAt: number; paused: boolean; items: SaleItemBase[] };

/** Rows the store read in the batch's transaction, before applying it: the sales the plan names. */
export type OutboxReads = { sales: ReadonlyMap<string, SaleBase> };

/** One row of webhook_deliveries as the write-behind creates it (status pending, no attempt yet). */
export type OutboxDelivery = {
  endpointId: string;
  eventId: string;
  type: WebhookEventType;
  /** The journal sequence number of the event: the delivery order of an endpoint's backlog. */
  sequence: number;
  /** When the event happened (engine time, ms). */
  eventAt: number;
  /** The request body exactly as it is sent on every attempt; null for a reservation's event (made at its first claim). */
  payload: string | null;
  /** The reservation a reservation's event describes (its body is made from that row); null otherwise. */
  subjectId: string | null;
  /** When the batch created it (ms): first due then, and the start of its retry window. */
  createdAt: number;
};

/**
 * ISO time of `ms`, remembering the last few: the events of one batch mostly share their
 * milliseconds (and a sale's holds their length), and a Date per field was a tenth of the outbox.
 */
const isoCache = new Map<number, string>();
const ISO_CACHE_MAX = 64;
function iso(ms: number): string {
  let text = isoCache.get(ms);
  if (text === undefined) {
    if (isoCache.size >= ISO_CACHE_MAX) isoCache.clear();
    text = new Date(ms).toISOString();
    isoCache.set(ms, text);
  }
  return text;
}
/** Digits of the sequence number in an event id: a trillion events per journal. */
const SEQUENCE_DIGITS = 12;

/** Whether the event changes some item's available units (so it can sell a sale out). */
function movesAvailable(event: SaleEvent): boolean {
  switch (event.type) {
    case "stock_adjusted":
    case "codes_added":
    case "hold_placed":
    case "hold_released":
    case "hold_expired":
      return true;
    case "payment_recorded":
      return event.confirm?.late === true;
    default:
      return false;
  }
}

export class OutboxPlan {
  private constructor(
    /** The entries the batch applies (past the recorded progress), in order. */
    private readonly entries: readonly JournalEntry[],
    private readonly subscriptions: readonly Subscription[],
    private readonly wanted: ReadonlySet<WebhookEventType>,
    /** Sales whose counts the batch moves, for sale.sold_out: the store reads them with their items. */
    readonly saleIds: readonly string[],
  ) {}

  /** The plan for the entries past `appliedSeq`, or null when no endpoint could get anything. */
  static of(entries: readonly JournalEntry[], appliedSeq: number, subscriptions: readonly Subscription[]): OutboxPlan | null {
    if (subscriptions.length === 0) return null;
    const wanted = new Set<WebhookEventType>();
    for (const subscription of subscriptions) for (const type of subscription.events) wanted.add(type);
    const fresh = entries[0] !== undefined && entries[0].seq > appliedSeq ? entries : entries.filter((entry) => entry.seq > appliedSeq);
    if (fresh.length === 0) return null;
    const created = new Set<string>();
    const saleIds = new Set<string>();
    if (wanted.has("sale.sold_out")) {
      for (const { event } of fresh) {
        if (event.type === "sale_created") created.add(event.saleId);
        else if (movesAvailable(event) && !created.has(event.saleId)) saleIds.add(event.saleId);
      }
    }
    return new OutboxPlan(fresh, subscriptions, wanted, [...saleIds]);
  }

  /** The deliveries of the batch, in sequence order. */
  build(journalId: string, reads: OutboxReads, now: number): OutboxDelivery[] {
    const deliveries: OutboxDelivery[] = [];
    const sales = new Map<string, SaleCounts>();
    for (const [saleId, sale] of reads.sales) sales.set(saleId, new SaleCounts(sale));
    const push = (type: WebhookEventType, eventId: string, sequence: number, eventAt: number, payload: string | null, subjectId: string | null) => {
      for (const subscription of this.subscriptions) {
        if (subscription.events.has(type)) {
          deliveries.push({ endpointId: subscription.endpointId, eventId, type, sequence, eventAt, payload, subjectId, createdAt: now });
        }
      }
    };
    const reservationEvent = (type: WebhookEventType, eventId: string, sequence: number, eventAt: number, reservationId: string) => {
      if (this.wanted.has(type)) push(type, eventId, sequence, eventAt, null, reservationId);
    };
    // `data` is the JSON of the event's data, made only when some endpoint wants the event.
    const madeNow = (type: WebhookEventType, eventId: string, sequence: number, eventAt: number, data: () => string) => {
      if (this.wanted.has(type)) push(type, eventId, sequence, eventAt, eventJson(eventId, type, eventAt, data()), null);
    };
    for (const { seq, event } of this.entries) {
      const eventId = `evt_${journalId}_${String(seq).padStart(SEQUENCE_DIGITS, "0")}`;
      // The sale's units before this event, for sale.sold_out: it fires when they reach 0 from above.
      const counts = sales.get(event.saleId);
      const before = counts?.total ?? 0;
      switch (event.type) {
        case "sale_created":
          if (this.wanted.has("sale.sold_out")) sales.set(event.saleId, SaleCounts.created(event.sale));
          break;
        case "sale_patched":
          counts?.patch(event.patch);
          break;
        case "stock_adjusted":
          counts?.add(event.itemId, event.delta);
          break;
        case "codes_added":
          counts?.add(event.itemId, event.codes.length);
          break;
        case "hold_placed":
          reservationEvent("reservation.held", eventId, seq, event.at, event.reservationId);
          counts?.add(event.itemId, -event.quantity);
          break;
        case "hold_released":
          reservationEvent("reservation.released", eventId, seq, event.at, event.reservationId);
          counts?.add(event.itemId, event.quantity);
          break;
        case "hold_expired":
          reservationEvent("reservation.expired", eventId, seq, event.at, event.reservationId);
          counts?.add(event.itemId, event.quantity);
          break;
        case "payment_recorded": {
          const { payment, confirm } = event;
          if (confirm !== null) {
            reservationEvent("reservation.confirmed", eventId, seq, event.at, payment.reservationId);
            if (confirm.late) counts?.add(confirm.itemId, -confirm.quantity);
          }
          if (payment.outcome === "refund_required") {
            // A payment either confirms or asks for a refund; should one ever do both, the ids differ.
            const id = confirm === null ? eventId : `${eventId}_refund`;
            madeNow("payment.refund_required", id, seq, event.at, () => JSON.stringify(paymentView(payment)));
          }
          break;
        }
      }
      if (counts !== undefined && before > 0 && counts.total === 0) {
        madeNow("sale.sold_out", `${eventId}_sold_out`, seq, event.at, () => JSON.stringify(counts.publicView(event.at)));
      }
    }
    return deliveries;
  }
}

/** The request body: `{ id, type, createdAt, data }`, with `data` already JSON. */
function eventJson(eventId: string, type: WebhookEventType, eventAt: number, data: string): string {
  return `{"id":${JSON.stringify(eventId)},"type":"${type}","createdAt":"${iso(eventAt)}","data":${data}}`;
}

/** What each reservation event says of its reservation's status. */
const STATUS_OF: Partial<Record<WebhookEventType, Reservation["status"]>> = {
  "reservation.held": "held",
  "reservation.confirmed": "confirmed",
  "reservation.released": "released",
  "reservation.expired": "expired",
};

/**
 * The body of a reservation's event, made from its row and, once confirmed, its delivered codes:
 * the reservation as its buyer saw it right after the event (what a row holds besides its status
 * never changes after the hold is placed, nor do codes once delivered). Null for another type.
 */
export function reservationEventJson(eventId: string, type: WebhookEventType, eventAt: number, base: ReservationBase, codes: readonly string[]): string | null {
  const status = STATUS_OF[type];
  if (status === undefined) return null;
  return eventJson(eventId, type, eventAt, reservationJson(base, status, codes));
}

/**
 * JSON.stringify(reservationView(...)) of the reservation, byte for byte (test/webhooks/outbox.test.ts
 * holds the two together), written out because it runs once per event inside the write-behind's
 * transaction: a template with the free-text fields escaped costs half as much.
 */
export function reservationJson(base: ReservationBase, status: Reservation["status"], codes: readonly string[]): string {
  const q = JSON.stringify;
  return (
    `{"id":${q(base.id)},"saleId":${q(base.saleId)},"itemId":${q(base.itemId)},"userId":${q(base.userId)},` +
    `"quantity":${q(base.quantity)},"status":"${status}","amount":${q(base.amount)},"currency":${q(base.currency)},` +
    `"createdAt":"${iso(base.createdAt)}","expiresAt":"${iso(base.expiresAt)}","codes":${status === "confirmed" ? q(codes) : "[]"}}`
  );
}

/** The reservation as its buyer sees it (ledger/views.ts), for the check that reservationJson equals it. */
export function reservationViewOf(base: ReservationBase, status: Reservation["status"], codes: string[]) {
  return reservationView({ ...base, status, codes, endedAt: 0, paymentId: null });
}

/** The payment as operators list it (GET /v1/admin/sales/:saleId/payments), with its sale. */
export function paymentView(payment: Payment) {
  return {
    paymentId: payment.paymentId,
    eventId: payment.eventId,
    saleId: payment.saleId,
    reservationId: payment.reservationId,
    amount: payment.amount,
    currency: payment.currency,
    status: payment.status,
    outcome: payment.outcome,
    receivedAt: iso(payment.receivedAt),
  };
}

/** A sale's settings and available units, followed event by event through one batch. */
class SaleCounts {
  total = 0;
  private readonly byItem = new Map<string, SaleItemBase>();

  constructor(private readonly sale: SaleBase) {
    this.sale = { ...sale, items: sale.items.map((item) => ({ ...item })) };
    for (const item of this.sale.items) {
      this.byItem.set(item.id, item);
      this.total += item.available;
    }
  }

  static created(spec: SaleSpec): SaleCounts {
    const items = spec.items.map(({ id, name, price, currency, delivery, stock }) => ({
      id,
      name,
      price,
      currency,
      available: delivery === "codes" ? 0 : stock,
    }));
    return new SaleCounts({ id: spec.id, name: spec.name, startsAt: spec.startsAt, endsAt: spec.endsAt, paused: false, items });
  }

  add(itemId: string, units: number): void {
    const item = this.byItem.get(itemId);
    if (item === undefined) return;
    item.available += units;
    this.total += units;
  }

  patch(patch: SalePatch): void {
    if (patch.name !== undefined) this.sale.name = patch.name;
    if (patch.startsAt !== undefined) this.sale.startsAt = patch.startsAt;
    if (patch.endsAt !== undefined) this.sale.endsAt = patch.endsAt;
    if (patch.paused !== undefined) this.sale.paused = patch.paused;
  }

  /** The public sale view (ledger/views.ts, publicSaleView) as it was at `at`. */
  publicView(at: number) {
    const { id, name, startsAt, endsAt, paused } = this.sale;
    const status = at >= endsAt ? "ended" : paused ? "paused" : at < startsAt ? "scheduled" : "open";
    const items = this.sale.items.map(({ id, name, price, currency, available }) => ({ id, name, price, currency, available }));
    return { id, name, startsAt: iso(startsAt), endsAt: iso(endsAt), status, items };
  }
}
