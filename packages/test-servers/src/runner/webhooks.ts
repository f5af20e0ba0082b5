import crypto from 'node:crypto';

/** Where a repository's webhook delivers, as its settings on GitHub name it. */
export interface WebhookTarget {
  /** The payload URL, e.g. a Backstage backend's `/api/events/http/github`. */
  url: string;
  /** The webhook's secret: each delivery is signed with it (`X-Hub-Signature-256`). */
  secret: string;
  /** The events it is subscribed to (default: every event). */
  events?: string[];
}

/** One delivery, as the webhook's "Recent Deliveries" list shows it. */
export interface WebhookDelivery {
  id: string;
  event: string;
  payload: Record<string, unknown>;
  /** The receiver's status code; 0 when the delivery failed or was dropped. */
  status: number;
  /** True when the test made this delivery fail (`dropNext`). */
  dropped: boolean;
}

/**
 * GitHub's webhook deliveries of one repository: a JSON body POSTed with the `X-GitHub-Event`,
 * `X-GitHub-Delivery` and `X-Hub-Signature-256` (HMAC-SHA256 of the body with the secret,
 * `sha256=<hex>`) headers, once, never retried (GitHub redelivers only when asked to).
 * `dropNext(n)` makes the next `n` deliveries fail before they reach the receiver, as a delivery
 * lost to a receiver's downtime does.
 */
export class WebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  private drops = 0;

  constructor(
    private readonly target: WebhookTarget,
    private readonly repository: { fullName: string; defaultBranch: string },
  ) {}

  /** The next `count` deliveries are lost. */
  dropNext(count = 1) {
    this.drops += count;
  }

  /** Delivers `event` with `payload` (`repository` and `sender` added as GitHub adds them). */
  async deliver(
    event: string,
    payload: Record<string, unknown>,
    sender: string,
  ): Promise<WebhookDelivery | undefined> {
    if (this.target.events && !this.target.events.includes(event)) {
      return undefined;
    }
    const [owner, name] = this.repository.fullName.split('/');
    const body = JSON.stringify({
      ...payload,
      repository: {
        name,
        full_name: this.repository.fullName,
        owner: { login: owner },
        default_branch: this.repository.defaultBranch,
      },
      sender: { login: sender },
    });
    const delivery: WebhookDelivery = {
      id: crypto.randomUUID(),
      event,
      payload: JSON.parse(body),
      status: 0,
      dropped: false,
    };
    this.deliveries.push(delivery);
    if (this.drops > 0) {
      this.drops--;
      delivery.dropped = true;
      return delivery;
    }
    const signature = crypto
      .createHmac('sha256', this.target.secret)
      .update(body)
      .digest('hex');
    try {
      const res = await fetch(this.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/test-servers',
          'x-github-event': event,
          'x-github-delivery': delivery.id,
          'x-hub-signature-256': `sha256=${signature}`,
        },
        body,
      });
      await res.arrayBuffer();
      delivery.status = res.status;
    } catch {
      // A receiver that is down: the delivery is recorded as failed, as GitHub lists it.
    }
    return delivery;
  }
}
