import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listening and closing for the agent's HTTP servers (the mesh API and the operator API):
 * a listen failure becomes the caller's own error (its code names which server), and stop
 * cuts open connections (kept-alive requests, event streams) instead of waiting for them.
 */
export async function listen(
  server: Server,
  host: string,
  port: number,
  failed: (cause: Error) => Error,
): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(failed(err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

export async function close(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** `http://host:port`, with an IPv6 host in brackets. */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
