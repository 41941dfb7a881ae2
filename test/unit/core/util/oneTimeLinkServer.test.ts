import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { serveBehindOneTimeLink, type OneTimeLinkServer } from '../../../../src/core/util/oneTimeLinkServer';

function statusOf(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

describe('a page server behind a one-time link', () => {
  const servers: OneTimeLinkServer[] = [];
  let actions = 0;

  async function serve(): Promise<OneTimeLinkServer> {
    const served = await serveBehindOneTimeLink({
      cookie: 'sandbox_test',
      refusal: 'No link, no page.',
      async handle(_request, response, url) {
        if (url.pathname === '/act') actions++;
        response.writeHead(200, { 'Content-Type': 'text/plain' });
        response.end(url.pathname);
      },
    });
    servers.push(served);
    return served;
  }

  /** The session cookie the one-time link is traded for (`name=value`). */
  async function session(link: string): Promise<string> {
    const exchanged = await fetch(link, { redirect: 'manual' });
    assert.equal(exchanged.status, 303);
    return exchanged.headers.get('set-cookie')!.split(';')[0]!;
  }

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((served) => served.close()));
    actions = 0;
  });

  it("names its cookie after its port, so a second server on 127.0.0.1 does not overwrite the first's", async () => {
    const first = await serve();
    const second = await serve();
    const firstCookie = await session(first.url);
    const secondCookie = await session(second.url);
    assert.match(firstCookie, new RegExp(`^sandbox_test_${first.port}=`));
    assert.match(secondCookie, new RegExp(`^sandbox_test_${second.port}=`));
    // A browser sends every 127.0.0.1 cookie to every port: both, to each server.
    const both = `${firstCookie}; ${secondCookie}`;
    assert.equal((await fetch(`${first.origin}/`, { headers: { cookie: both } })).status, 200);
    assert.equal((await fetch(`${second.origin}/`, { headers: { cookie: both } })).status, 200);
    assert.equal((await fetch(`${first.origin}/`, { headers: { cookie: secondCookie } })).status, 403, "the other server's session is not this one's");
  });

  it('lets only its own page ask for anything but the page itself', async () => {
    const served = await serve();
    const cookie = await session(served.url);
    // Node's fetch sends a Sec-Fetch-Mode of its own; a plain request carries these headers alone.
    const ask = (path: string, headers: Record<string, string>) => statusOf(`${served.origin}${path}`, { cookie, ...headers });
    // An <img> or fetch from a page on another port of 127.0.0.1 (same site: the cookie goes along).
    assert.equal(await ask('/act', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' }), 403);
    assert.equal(await ask('/act', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }), 403);
    assert.equal(await ask('/act', { origin: 'http://127.0.0.1:1' }), 403, 'a foreign Origin');
    assert.equal(await ask('/act', { origin: 'null' }), 403);
    assert.equal(await ask('/act', { referer: 'http://evil.example/page' }), 403, 'a foreign Referer');
    assert.equal(actions, 0);
    // The page itself may be navigated to from anywhere (another server's redirect, the user), not loaded as a resource.
    assert.equal(await ask('/', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' }), 200);
    assert.equal(await ask('/', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' }), 403);
    // Its own page, the user's address bar, or a client that is not a browser.
    assert.equal(await ask('/act', { 'sec-fetch-site': 'same-origin', origin: served.origin }), 200);
    assert.equal(await ask('/act', { 'sec-fetch-site': 'none' }), 200);
    assert.equal(await ask('/act', {}), 200);
    assert.equal(actions, 3);
  });

  it('trades a link another page sent the browser to for a page of its own, whose navigation carries the SameSite=Strict cookie', async () => {
    const served = await serve();
    const answer = await new Promise<http.IncomingMessage & { body: string }>((resolve, reject) => {
      // A redirect page opened from the state dir (a file: page) sends the browser on to the link.
      const request = http.get(served.url, { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(Object.assign(response, { body })));
      });
      request.on('error', reject);
    });
    assert.equal(answer.statusCode, 200);
    assert.match(String(answer.headers['set-cookie']), new RegExp(`^sandbox_test_${served.port}=[^;]+; HttpOnly; SameSite=Strict`));
    assert.match(answer.body, /<meta http-equiv="refresh" content="0;url=\/">/);
  });

  it('gives new one-time links to the same server, each working once', async () => {
    const served = await serve();
    const links = [served.newLink(), served.newLink()];
    assert.notEqual(links[0], links[1]);
    const sessions = [await session(links[1]!), await session(links[0]!), await session(served.url)];
    assert.equal(new Set(sessions).size, 1, 'one session, whichever link traded for it');
    for (const link of [served.url, ...links]) assert.equal((await fetch(link, { redirect: 'manual' })).status, 403, 'a link works once');
    const many = Array.from({ length: 5 }, () => served.newLink());
    assert.equal((await fetch(many[0]!, { redirect: 'manual' })).status, 403, 'past a few unused links, the oldest stops working');
    assert.equal((await fetch(many[4]!, { redirect: 'manual' })).status, 303);
  });
});
