export type { Store, ReservationPage, ReservationQuery } from "./store.ts";
export { openStore } from "./open-store.ts";
