// The messages between workers, in compact binary. Holds (the hot path) and their answers have a
// fixed layout: the forwarder writes the command's fields, the owner writes back the reservation
// JSON it rendered when it decided, and nobody parses or re-encodes JSON on the way. Everything else
// (admin commands, reads, snapshots of availability, gossip) is rare and travels as JSON in a
// call or an event message.
//
// A frame (peer-link.ts) carries any number of messages: a kind byte, then the kind's fields.

import type { ByteReader, ByteWriter } from "../bytes.ts";
import type { HoldAnswer } from "../engine/gateway.ts";
import type { HoldCommand, Refusal } from "../ledger/types.ts";

export const enum Kind {
  Hold = 1,
  HoldAnswer = 2,
  Call = 3,
  CallAnswer = 4,
  Event = 5,
}

const HOLD_HAS_KEY = 1;
/** The forwarding worker checked the buyer's admission token (a sale with a waiting room). */
const HOLD_ADMITTED = 2;
const ANSWER_OK = 1;
const ANSWER_REPLAYED = 2;
const ANSWER_RATE_LIMIT = 4;
const ANSWER_RETRY_AFTER = 8;

export function writeHold(out: ByteWriter, callId: number, saleId: string, command: HoldCommand): void {
  out.u8(Kind.Hold);
  out.u32(callId);
  out.u8((command.idempotencyKey === null ? 0 : HOLD_HAS_KEY) | (command.admitted === true ? HOLD_ADMITTED : 0));
  out.f64(command.token ?? 0);
  out.str(saleId);
  out.str(command.userId);
  out.str(command.itemId);
  out.u8(command.quantity);
  if (command.idempotencyKey !== null) out.str(command.idempotencyKey);
}

export function readHold(input: ByteReader): { callId: number; saleId: string; command: HoldCommand } {
  const callId = input.u32();
  const flags = input.u8();
  const token = input.f64();
  const saleId = input.str();
  const userId = input.str();
  const itemId = input.str();
  const quantity = input.u8();
  const idempotencyKey = flags & HOLD_HAS_KEY ? input.str() : null;
  const command: HoldCommand = { kind: "hold", userId, itemId, quantity, idempotencyKey, token };
  if (flags & HOLD_ADMITTED) command.admitted = true;
  return { callId, saleId, command };
}

export function writeHoldAnswer(out: ByteWriter, callId: number, answer: HoldAnswer): void {
  out.u8(Kind.HoldAnswer);
  out.u32(callId);
  if (answer.ok) {
    out.u8(ANSWER_OK | (answer.replayed ? ANSWER_REPLAYED : 0) | (answer.rateLimit !== null ? ANSWER_RATE_LIMIT : 0));
    out.str(answer.body, true);
    if (answer.rateLimit !== null) {
      out.f64(answer.rateLimit.remaining);
      out.f64(answer.rateLimit.resetSeconds);
    }
    return;
  }
  out.u8(answer.retryAfterSeconds !== undefined ? ANSWER_RETRY_AFTER : 0);
  out.str(answer.refusal);
  out.str(answer.detail, true);
  if (answer.retryAfterSeconds !== undefined) out.f64(answer.retryAfterSeconds);
}

export function readHoldAnswer(input: ByteReader): { callId: number; answer: HoldAnswer } {
  const callId = input.u32();
  const flags = input.u8();
  if (flags & ANSWER_OK) {
    const body = input.str(true);
    const rateLimit = flags & ANSWER_RATE_LIMIT ? { remaining: input.f64(), resetSeconds: input.f64() } : null;
    return { callId, answer: { ok: true, body, replayed: (flags & ANSWER_REPLAYED) !== 0, rateLimit } };
  }
  const refusal = input.str() as Refusal | "unavailable";
  const detail = input.str(true);
  const answer: HoldAnswer = { ok: false, refusal, detail };
  if (flags & ANSWER_RETRY_AFTER) answer.retryAfterSeconds = input.f64();
  return { callId, answer };
}

export function writeCall(out: ByteWriter, callId: number, op: string, args: unknown): void {
  out.u8(Kind.Call);
  out.u32(callId);
  out.str(op);
  out.str(JSON.stringify(args ?? null), true);
}

export function readCall(input: ByteReader): { callId: number; op: string; args: unknown } {
  return { callId: input.u32(), op: input.str(), args: JSON.parse(input.str(true)) };
}

/** A call's answer: its value, or an error with the Retry-After of an Unavailable. */
export type CallResult = { ok: true; value: unknown } | { ok: false; message: string; retryAfter?: number };

export function writeCallAnswer(out: ByteWriter, callId: number, result: CallResult): void {
  out.u8(Kind.CallAnswer);
  out.u32(callId);
  out.str(JSON.stringify(result.ok ? { v: result.value ?? null } : { e: result.message, r: result.retryAfter }), true);
}

export function readCallAnswer(input: ByteReader): { callId: number; result: CallResult } {
  const callId = input.u32();
  const body = JSON.parse(input.str(true)) as { v?: unknown; e?: string; r?: number };
  if (body.e === undefined) return { callId, result: { ok: true, value: body.v } };
  return { callId, result: body.r === undefined ? { ok: false, message: body.e } : { ok: false, message: body.e, retryAfter: body.r } };
}

export function writeEvent(out: ByteWriter, op: string, args: unknown): void {
  out.u8(Kind.Event);
  out.str(op);
  out.str(JSON.stringify(args ?? null), true);
}

export function readEvent(input: ByteReader): { op: string; args: unknown } {
  return { op: input.str(), args: JSON.parse(input.str(true)) };
}
