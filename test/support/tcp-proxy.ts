// A byte pipe between a server and PostgreSQL that a test can cut (every socket closed, new ones
// refused), restore, or break exactly when a transaction's COMMIT is on its way: outages on demand.

import type { Socket, TCPSocketListener } from "bun";

type Pipe = { peer: Socket<Pipe> | null; pending: Uint8Array[]; closed: boolean };

/** Write what the socket takes now and keep the rest, in order, for its drain event. */
function send(socket: Socket<Pipe>, chunk: Uint8Array): void {
  if (socket.data.pending.length > 0) {
    socket.data.pending.push(chunk.slice());
    return;
  }
  const written = socket.write(chunk);
  if (written < chunk.length) socket.data.pending.push(chunk.slice(Math.max(written, 0)));
}

function flush(socket: Socket<Pipe>): void {
  const pending = socket.data.pending;
  while (pending.length > 0) {
    const chunk = pending[0] as Uint8Array;
    const written = socket.write(chunk);
    if (written < chunk.length) {
      pending[0] = chunk.slice(Math.max(written, 0));
      return;
    }
    pending.shift();
  }
}

function close(socket: Socket<Pipe> | null): void {
  if (socket === null || socket.data.closed) return;
  socket.data.closed = true;
  socket.end();
}

/** A byte pipe to PostgreSQL that the test can cut, restore, or break at the next COMMIT. */
export class TcpProxy {
  private listener: TCPSocketListener<Pipe> | null = null;
  private readonly sockets = new Set<Socket<Pipe>>();
  private refusing = false;
  private dropAtCommit = false;
  droppedCommits = 0;

  constructor(private readonly target: { hostname: string; port: number }) {}

  get port(): number {
    return this.listener?.port ?? 0;
  }

  start(): void {
    const proxy = this;
    const both = (socket: Socket<Pipe>) => {
      proxy.sockets.delete(socket);
      close(socket);
      close(socket.data.peer);
    };
    this.listener = Bun.listen<Pipe>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          client.data = { peer: null, pending: [], closed: false };
          if (proxy.refusing) return close(client);
          proxy.sockets.add(client);
          void Bun.connect<Pipe>({
            ...proxy.target,
            socket: {
              open(upstream) {
                upstream.data = { peer: client, pending: client.data.pending.splice(0), closed: false };
                client.data.peer = upstream;
                proxy.sockets.add(upstream);
                if (client.data.closed) both(upstream);
                else flush(upstream);
              },
              data: (upstream, chunk) => send(client, chunk),
              drain: flush,
              close: both,
              error: both,
            },
          }).catch(() => both(client));
        },
        data(client, chunk) {
          // On a fresh connection postgres.js parses COMMIT as a statement of its own ("\0COMMIT\0"
          // in a Parse message); the batch's statements went ahead of it, the commit never arrives.
          if (proxy.dropAtCommit && Buffer.from(chunk).includes("\0COMMIT\0")) {
            proxy.dropAtCommit = false;
            proxy.droppedCommits += 1;
            return both(client);
          }
          const upstream = client.data.peer;
          if (upstream === null) client.data.pending.push(chunk.slice());
          else send(upstream, chunk);
        },
        drain: flush,
        close: both,
        error: both,
      },
    });
  }

  /** Close every connection and refuse new ones. */
  cut(): void {
    this.refusing = true;
    for (const socket of this.sockets) close(socket);
    this.sockets.clear();
  }

  restore(): void {
    this.refusing = false;
  }

  /**
   * Drop the connection that next sends COMMIT, before it reaches PostgreSQL. Open connections are
   * closed first: a connection that has committed before sends only the prepared statement's name.
   */
  breakNextCommit(): void {
    for (const socket of this.sockets) close(socket);
    this.sockets.clear();
    this.dropAtCommit = true;
  }

  stop(): void {
    this.cut();
    this.listener?.stop(true);
  }
}


/** The database URL with its host and port replaced by the proxy's. */
export function throughProxy(databaseUrl: string, proxy: TcpProxy): string {
  const url = new URL(databaseUrl);
  url.host = `127.0.0.1:${proxy.port}`;
  return url.toString();
}
