import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppDeps } from './app.ts';
import { createApp } from './app.ts';

export interface RunningApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Listen with the Koa app on host:port (port 0 picks a free one). */
export async function startApiServer(deps: AppDeps, host: string, port: number): Promise<RunningApi> {
  const app = createApp(deps);
  const server = createServer(app.callback());

  // A chunk upload can take minutes on a slow link; Node's 5-minute request timeout
  // would cut it, while the byte limits already bound what a client can send.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  // A client that stops sending mid-chunk would otherwise hold a connection and an
  // open transaction until TCP gives up. After two idle minutes the socket is closed
  // and the chunk's transaction rolls back.
  server.setTimeout(120_000);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });

  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
