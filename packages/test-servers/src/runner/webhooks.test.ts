import crypto from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { WebhookSender } from './webhooks';

describe('WebhookSender', () => {
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> =
    [];
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', chunk => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => new Promise(resolve => server.close(resolve)));
  beforeEach(() => {
    received.length = 0;
  });

  it("delivers GitHub's headers and a body signed with the secret, repository and sender added", async () => {
    const sender = new WebhookSender(
      { url, secret: 's3cret' },
      { fullName: 'acme/checkout', defaultBranch: 'main' },
    );
    const delivery = await sender.deliver(
      'create',
      { ref: 'rc-1', ref_type: 'tag' },
      'releaser',
    );
    expect(delivery).toMatchObject({ event: 'create', status: 202 });
    const [{ headers, body }] = received;
    expect(headers['x-github-event']).toBe('create');
    expect(headers['x-github-delivery']).toBe(delivery!.id);
    expect(headers['x-hub-signature-256']).toBe(
      `sha256=${crypto
        .createHmac('sha256', 's3cret')
        .update(body)
        .digest('hex')}`,
    );
    expect(JSON.parse(body)).toEqual({
      ref: 'rc-1',
      ref_type: 'tag',
      repository: {
        name: 'checkout',
        full_name: 'acme/checkout',
        owner: { login: 'acme' },
        default_branch: 'main',
      },
      sender: { login: 'releaser' },
    });
  });

  it('loses the next deliveries when told to, and sends only the subscribed events', async () => {
    const sender = new WebhookSender(
      { url, secret: 's', events: ['create'] },
      { fullName: 'acme/checkout', defaultBranch: 'main' },
    );
    sender.dropNext(1);
    expect(await sender.deliver('create', { ref: 'a' }, 'x')).toMatchObject({
      dropped: true,
      status: 0,
    });
    expect(await sender.deliver('push', { ref: 'b' }, 'x')).toBeUndefined();
    expect(await sender.deliver('create', { ref: 'c' }, 'x')).toMatchObject({
      dropped: false,
      status: 202,
    });
    expect(received.map(r => JSON.parse(r.body).ref)).toEqual(['c']);
    expect(sender.deliveries.map(d => d.payload.ref)).toEqual(['a', 'c']);
  });

  it('records a delivery to a receiver that is down as failed, without throwing', async () => {
    const sender = new WebhookSender(
      { url: 'http://127.0.0.1:1/hook', secret: 's' },
      { fullName: 'acme/checkout', defaultBranch: 'main' },
    );
    expect(await sender.deliver('push', {}, 'x')).toMatchObject({ status: 0 });
  });
});
