// CSV export of every reservation of a sale, streamed page by page from the system of record so
// that a sale of a million reservations never sits in memory at once.

import type { SaleGateway } from "../../engine/gateway.ts";
import type { Reservation } from "../../ledger/types.ts";

const PAGE_SIZE = 1000;
const COLUMNS = [
  "id",
  "saleId",
  "itemId",
  "userId",
  "quantity",
  "status",
  "amount",
  "currency",
  "createdAt",
  "expiresAt",
  "paymentId",
] as const;

/** RFC 4180 quoting, and a leading quote for cells a spreadsheet would run as a formula. */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function csvRow(r: Reservation): string {
  const cells = [
    r.id,
    r.saleId,
    r.itemId,
    r.userId,
    String(r.quantity),
    r.status,
    String(r.amount),
    r.currency,
    new Date(r.createdAt).toISOString(),
    new Date(r.expiresAt).toISOString(),
    r.paymentId ?? "",
  ];
  return `${cells.map(csvCell).join(",")}\r\n`;
}

export function reservationsCsv(gateway: SaleGateway, saleId: string): Response {
  const encoder = new TextEncoder();
  let cursor: string | undefined;
  let started = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(`${COLUMNS.join(",")}\r\n`));
      }
      const page = await gateway.storeReservations(saleId, {
        limit: PAGE_SIZE,
        ...(cursor === undefined ? {} : { cursor }),
      });
      if (page.reservations.length > 0) controller.enqueue(encoder.encode(page.reservations.map(csvRow).join("")));
      if (page.nextCursor === null) controller.close();
      else cursor = page.nextCursor;
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${saleId}-reservations.csv"`,
    },
  });
}
