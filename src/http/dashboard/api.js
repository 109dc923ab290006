// The admin token and the calls the dashboard makes with it. The token lives in sessionStorage only
// (this tab; gone when it closes), is never put in a URL the server sees, and travels as
// `Authorization: Bearer` on every call, the stream included.

const TOKEN_KEY = "stampede.adminToken";

/** The token from `#token=...`, removed from the address bar (and so from history) at once. */
export function takeTokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token === null) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return token.trim() === "" ? null : token.trim();
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A non-2xx answer: `message` is what an operator should read, from the problem document. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemMessage(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

function problemMessage(status, problem) {
  if (problem === null || typeof problem !== "object") return `The server answered ${status}.`;
  let message = [problem.title, problem.detail].filter((part) => typeof part === "string" && part !== "").join(": ");
  if (Array.isArray(problem.errors) && problem.errors.length > 0) {
    message += ` (${problem.errors.map((e) => `${e.path} ${e.message}`).join("; ")})`;
  }
  return message || `The server answered ${status}.`;
}

let onUnauthorized = () => {};

/** What to do when the server refuses the token (sign out and ask again). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export function authHeaders(extra = {}) {
  return { authorization: `Bearer ${session.token ?? ""}`, ...extra };
}

/** A JSON call to the admin API; resolves with the parsed body, rejects with an ApiError. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: authHeaders(body === undefined ? {} : { "content-type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** Fetches a file with the token (a plain link cannot carry it) and hands it to the browser as a download. */
export async function download(path, fileName) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (response.status === 401) onUnauthorized();
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {}
    throw new ApiError(response.status, problem);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  // The click has started the download by the next turn; the object URL can go then.
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
}

/** An id as a path segment. Ids are `[A-Za-z0-9_-]`, but what the server sends is never trusted. */
export const segment = (id) => encodeURIComponent(id);
