// Admission tokens of a sale's waiting room (API.md, "Waiting room"): what a buyer shows, in
// `Stampede-Admission`, to hold stock from a sale that has a room. The server signs it with its
// admission key (secrets.ts, loadAdmissionSecret; HMAC-SHA256), and it names the buyer, the sale and
// the moment it stops admitting:
//
//   base64url("<expiresAt ms>\n<saleId>\n<userId>") "." base64url(HMAC-SHA256(key, that first part))
//
// Any worker signs and checks one without asking the sale's owner: the owner decides who is
// admitted and until when (the ledger's place), the token only carries that decision to the hold.
// Signing is deterministic, so a buyer who asks again gets the same token.

import { timingSafeEqual } from "node:crypto";

/** Far longer than any token made here (ids are at most 64 and 256 characters). */
const TOKEN_LENGTH_MAX = 1024;

export class AdmissionTokens {
  constructor(private readonly key: string) {}

  sign(saleId: string, userId: string, expiresAt: number): string {
    const payload = Buffer.from(`${expiresAt}\n${saleId}\n${userId}`, "utf8").toString("base64url");
    return `${payload}.${this.mac(payload)}`;
  }

  /**
   * Whether `token` admits `userId` to hold from `saleId` at `now`: made by this server's key, for
   * this buyer and this sale, and not expired. Missing, forged, another buyer's or another sale's: false.
   */
  verify(token: string | null, saleId: string, userId: string, now: number): boolean {
    if (token === null || token.length > TOKEN_LENGTH_MAX) return false;
    const dot = token.indexOf(".");
    if (dot <= 0) return false;
    const payload = token.slice(0, dot);
    // What the token names is read first (cheap), the signature checked last, and always before a yes.
    const fields = Buffer.from(payload, "base64url").toString("utf8").split("\n");
    if (fields.length !== 3 || fields[1] !== saleId || fields[2] !== userId) return false;
    const expiresAt = Number(fields[0]);
    if (!Number.isSafeInteger(expiresAt) || now >= expiresAt) return false;
    const given = Buffer.from(token.slice(dot + 1), "utf8");
    const expected = Buffer.from(this.mac(payload), "utf8");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(payload: string): string {
    const hasher = new Bun.CryptoHasher("sha256", this.key);
    hasher.update(payload);
    return hasher.digest("base64url");
  }
}
