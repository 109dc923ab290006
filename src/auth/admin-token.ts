// Operator authentication: every `/v1/admin/*` request must carry the admin token as a Bearer
// credential. The comparison runs over SHA-256 digests of equal length, so its timing reveals
// neither how many leading characters matched nor how long the real token is.
import { createHash, timingSafeEqual } from "node:crypto";
import { bearerCredential } from "./buyer-token.ts";

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

export function createAdminCheck(adminToken: string): (authorization: string | null | undefined) => boolean {
  if (!adminToken) {
    // An empty token would make the admin surface either unreachable or open, both bugs.
    throw new Error("the admin token must not be empty");
  }
  // Hashed once here so a request costs one hash of the presented credential.
  const expected = digest(adminToken);
  return (authorization) => {
    const presented = bearerCredential(authorization);
    if (presented === null) return false;
    return timingSafeEqual(digest(presented), expected);
  };
}
