import http from 'node:http';
import { AddressInfo } from 'node:net';

/** A loopback listener that records every request it receives and the credentials it carried. */
export interface Listener {
  host: string;
  port: number;
  requests: Array<{
    method: string;
    url: string;
    host: string;
    authorization?: string;
  }>;
  close(): Promise<void>;
}

export async function listen(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<Listener> {
  const requests: Listener['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({
      method: req.method!,
      url: req.url!,
      host: req.headers.host!,
      authorization: req.headers.authorization,
    });
    handle(req, res);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
