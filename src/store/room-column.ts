// A sale's waiting-room settings as both stores keep them on the sales row: JSON text, null without a
// room. Only the settings: the room's places live in the journal and its snapshots, so a sale loaded
// from the store (journals moved through it when the number of workers changed) has its room back,
// empty, and never takes holds without an admission for want of one.

import type { WaitingRoomSettings } from "../ledger/types.ts";

export function roomColumn(room: WaitingRoomSettings | null | undefined): string | null {
  return room === undefined || room === null ? null : JSON.stringify(room);
}

export function roomOfColumn(text: string | null | undefined): WaitingRoomSettings | null {
  if (text === null || text === undefined) return null;
  const room = JSON.parse(text) as WaitingRoomSettings;
  return { admitPerSecond: room.admitPerSecond, admissionSeconds: room.admissionSeconds, opensSecondsBefore: room.opensSecondsBefore };
}
