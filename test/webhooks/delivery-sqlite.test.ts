// Outbound webhooks end to end on the embedded store (delivery-suite.ts).

import { runDeliverySuite } from "./delivery-suite.ts";

runDeliverySuite("sqlite", async () => ({ env: {}, drop: async () => {} }));
