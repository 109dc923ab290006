// The ceiling: a bare Bun.serve that parses the same JSON body as a hold and answers 201 with a
// small JSON document, no logic. Every Stampede number is reported as a ratio of this one, measured
// in the same run on the same machine.

const port = Number(process.env.PORT ?? 3999);
Bun.serve({
  port,
  hostname: "127.0.0.1",
  reusePort: false,
  async fetch(request) {
    if (request.method === "POST") {
      const body = (await request.json()) as { itemId?: unknown };
      return Response.json({ ok: true, itemId: body.itemId ?? null }, { status: 201 });
    }
    return Response.json({ ok: true });
  },
});
console.log(`ceiling listening on ${port}`);
