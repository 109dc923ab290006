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

export function race(
  url: string,
  options: { lanes: number; saleIds: readonly string[]; itemId: string; buyers: number; quantity?: (n: number) => number },
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
      try {
        const response = await fetch(`${url}/v1/sales/${saleId}/reservations`, {
          method: "POST",
          headers: { authorization: `Bearer ${tokenFor(userId)}`, "content-type": "application/json" },
          body: JSON.stringify({ itemId: options.itemId, quantity }),
        });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status === 201) {
          const body = (await response.json()) as { id: string };
          acks.push({ saleId, reservationId: body.id, userId, quantity });
        } else {
          await response.arrayBuffer();
        }
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
        await Bun.sleep(5);
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
