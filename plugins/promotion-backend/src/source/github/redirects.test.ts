import { Listener, listen } from '../../__testUtils__/countingListener';
import {
  createGitHubClient,
  GitHubSourceControl,
} from '@mainline/plugin-promotion-backend-module-github';

jest.setTimeout(60_000);

const TOKEN = 'ghp_CONFIGUREDtoken0123456789abcdefABCDEF';
const SECRET = 'INTERNAL-SERVICE-SECRET-b41d0c77e2';

describe('GitHub clients talk only to the configured API host', () => {
  let github: Listener;
  let stranger: Listener;

  beforeAll(async () => {
    stranger = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ref: 'refs/tags/x', secret: SECRET }));
    });
    github = await listen((req, res) => {
      const url = req.url!;
      if (url.startsWith('/repos/acme/moved')) {
        // A renamed repository: GitHub answers with a redirect inside its API.
        res.writeHead(301, { location: `/repos/acme/renamed${url.slice(17)}` });
        res.end();
      } else if (url.startsWith('/repos/acme/renamed')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ full_name: 'acme/renamed' }));
      } else if (url.startsWith('/repos/acme/elsewhere')) {
        res.writeHead(302, { location: `http://${stranger.host}${url}` });
        res.end();
      } else if (req.method === 'POST' && url.includes('/git/refs')) {
        res.writeHead(307, { location: `http://${stranger.host}${url}` });
        res.end();
      } else {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error; token ${SECRET}`);
      }
    });
  });

  afterAll(async () => {
    await Promise.all([github?.close(), stranger?.close()]);
  });

  const client = () =>
    createGitHubClient({
      baseUrl: `http://${github.host}`,
      token: TOKEN,
      retries: 0,
      writeSpacingMs: 0,
    });

  it('a write answered with a redirect fails with its status and is not retried or followed', async () => {
    const posts = () => github.requests.filter(r => r.method === 'POST').length;
    const before = posts();
    const error = await client()
      .rest.git.createRef({
        owner: 'acme',
        repo: 'svc',
        ref: 'refs/tags/v1',
        sha: 'a'.repeat(40),
      })
      .catch(e => e);
    expect(error.status).toBe(307);
    expect(error.message).toContain('writes never follow redirects');
    expect(posts() - before).toBe(1);
    expect(stranger.requests).toHaveLength(0);
  });

  it('a read follows a redirect within the API, and refuses one to another host', async () => {
    const moved = await client().rest.repos.get({
      owner: 'acme',
      repo: 'moved',
    });
    expect(moved.data.full_name).toBe('acme/renamed');
    await expect(
      client().rest.repos.get({ owner: 'acme', repo: 'elsewhere' }),
    ).rejects.toThrow(
      `only redirects within http://${github.host} are followed`,
    );
    expect(stranger.requests).toHaveLength(0);
  });

  it("an error body never reaches the adapter's error, only its status", async () => {
    const source = new GitHubSourceControl(async () => client(), {
      webBaseUrl: `http://${github.host}`,
    });
    const error = await source.listTags('acme/svc').catch(e => e as Error);
    expect(String(error)).toContain('GitHub answered HTTP 500');
    expect(JSON.stringify(error)).not.toContain(SECRET);
    expect(String(error)).not.toContain(SECRET);
    // The token went to the configured host only (REST, and git's smart HTTP for refs).
    const basic = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString(
      'base64',
    )}`;
    expect(
      github.requests.every(
        r => r.authorization === `token ${TOKEN}` || r.authorization === basic,
      ),
    ).toBe(true);
    expect(stranger.requests).toHaveLength(0);
  });
});
