// A sale's waiting-room settings as both stores keep them on the sales row: JSON text, null without a
// room. The room's counters and places have tables of their own (queue-schema.ts, queue-fold.ts).

import type { WaitingRoomSettings } from "../ledger/types.ts";

export function roomColumn(room: WaitingRoomSettings | null | undefined): string | null {
  return room === undefined || room === null ? null : JSON.stringify(room);
}

export function roomOfColumn(text: string | null | undefined): WaitingRoomSettings | null {
  if (text === null || text === undefined) return null;
  const room = JSON.parse(text) as WaitingRoomSettings;
  return { admitPerSecond: room.admitPerSecond, admissionSeconds: room.admissionSeconds, opensSecondsBefore: room.opensSecondsBefore };
}
