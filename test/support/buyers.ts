// Many distinct buyers racing for stock: each lane sends holds as a new buyer until told to stop,
// and every 201 is recorded with who got it, so a test can check the server against what it said.

import { signBuyerToken } from "../../src/auth/buyer-token.ts";
import { SECRETS } from "./harness.ts";

export type Ack = { saleId: string; reservationId: string; userId: string; quantity: number };

export type Race = {
  acks: Ack[];
  statuses: Map<number, number>;
  stop(): Promise<void>;
};

const tokens = new Map<string, string>();
export function tokenFor(userId: string): string {
  let token = tokens.get(userId);
  if (token === undefined) tokens.set(userId, (token = signBuyerToken(SECRETS.STAMPEDE_JWT_SECRET, userId, 3600)));
  return token;
}

/**
 * `retryUnknown`: each hold carries an Idempotency-Key, and a hold whose outcome the client did not
 * learn (the connection died, or a 503) is sent again with the same key until it gets an answer, as
 * a careful client does; then every unit held is one the clients were told about.
 */
export function race(
  url: string,
  options: {
    lanes: number;
    saleIds: readonly string[];
    itemId: string;
    buyers: number;
    quantity?: (n: number) => number;
    retryUnknown?: boolean;
  },
): Race {
  const acks: Ack[] = [];
  const statuses = new Map<number, number>();
  let stopped = false;
  let sent = 0;
  const lane = async () => {
    while (!stopped) {
      const n = sent++;
      const userId = `buyer-${n % options.buyers}`;
      const saleId = options.saleIds[n % options.saleIds.length] as string;
      const quantity = options.quantity?.(n) ?? 1;
      const key: Record<string, string> = options.retryUnknown === true ? { "idempotency-key": `race-${n}` } : {};
      for (let attempt = 0; ; attempt += 1) {
        let status = 0;
        try {
          const response = await fetch(`${url}/v1/sales/${saleId}/reservations`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokenFor(userId)}`, "content-type": "application/json", ...key },
            body: JSON.stringify({ itemId: options.itemId, quantity }),
          });
          status = response.status;
          if (status === 201) {
            const body = (await response.json()) as { id: string };
            acks.push({ saleId, reservationId: body.id, userId, quantity });
          } else {
            await response.arrayBuffer();
          }
        } catch {
          await Bun.sleep(5);
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const unknown = status === 0 || status === 503;
        if (!unknown || options.retryUnknown !== true) break;
        if (attempt >= 400) throw new Error(`hold race-${n} got no answer in ${attempt} attempts`);
        await Bun.sleep(25);
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.lanes }, lane));
  return {
    acks,
    statuses,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
