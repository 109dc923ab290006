// Authentication building blocks, free of any HTTP framework: the routes decide what to do
// with a null user id or a false check (a 401 problem response).
export { bearerCredential, createBuyerVerifier, publicKeyAlgorithms, signBuyerToken } from "./buyer-token.ts";
export type { BuyerAuthConfig } from "./buyer-token.ts";
export { createAdminCheck } from "./admin-token.ts";
export { signWebhook, verifyWebhookSignature } from "./webhook-signature.ts";
export { loadSecrets, secretProblems } from "./secrets.ts";
export type { Secrets } from "./secrets.ts";
