// JSON responses built directly: the hot routes skip Elysia's response mapping.

const JSON_HEADERS = { "content-type": "application/json" };

export function json(status: number, body: unknown, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: headers === undefined ? JSON_HEADERS : { ...JSON_HEADERS, ...headers },
  });
}
