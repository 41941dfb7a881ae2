import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { browserCommand, openBrowserWithToken } from '../../../src/cli/openBrowser';
import { REDIRECT_PAGE_LIFETIME_MS, redirectPageDir, redirectPageHtml } from '../../../src/core/util/redirectPage';

describe('opening a URL in the browser', () => {
  const url = 'http://127.0.0.1:8000/tree?token=abc&x=1';
  it('uses each platform own opener, the URL one argument', () => {
    assert.deepEqual(browserCommand(url, 'linux'), ['xdg-open', [url]]);
    assert.deepEqual(browserCommand(url, 'darwin'), ['open', [url]]);
    assert.deepEqual(browserCommand(url, 'win32'), ['cmd', ['/c', 'start', '""', 'http://127.0.0.1:8000/tree?token=abc^&x=1']]);
  });

  describe('with a token in it', () => {
    let stateRoot: string;
    beforeEach(async () => {
      stateRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'open-browser-'));
    });
    afterEach(async () => {
      await fs.rm(stateRoot, { recursive: true, force: true });
    });

    it("opens a redirect page only its owner can read, so the token is on no process's command line", async () => {
      const secret = 'http://127.0.0.1:8000/tree?token=s3cr3t-t0ken&x=<1>';
      const opened: string[] = [];
      assert.equal(
        await openBrowserWithToken(secret, stateRoot, async (target) => {
          opened.push(target);
          return true;
        }),
        true,
      );
      assert.equal(opened.length, 1);
      const page = opened[0]!;
      assert.equal(path.dirname(page), redirectPageDir(stateRoot));
      for (const platform of ['linux', 'darwin', 'win32'] as const) {
        const [program, args] = browserCommand(page, platform);
        assert.doesNotMatch([program, ...args].join(' '), /s3cr3t-t0ken/, platform);
      }
      assert.equal((await fs.stat(page)).mode & 0o777, 0o600);
      assert.equal((await fs.stat(path.dirname(page))).mode & 0o777, 0o700);
      const html = await fs.readFile(page, 'utf8');
      assert.equal(html, redirectPageHtml(secret));
      assert.ok(html.includes('<meta http-equiv="refresh" content="0;url=http://127.0.0.1:8000/tree?token=s3cr3t-t0ken&#38;x=&#60;1&#62;">'), html);
      assert.ok(html.includes('window.location.replace("http://127.0.0.1:8000/tree?token=s3cr3t-t0ken&x=\\u003c1>")'), html);
    });

    it('removes the pages older than a minute when it writes another', async () => {
      const first = await openBrowserWithToken(url, stateRoot, async () => true);
      assert.equal(first, true);
      const [stale] = await fs.readdir(redirectPageDir(stateRoot));
      const past = new Date(Date.now() - REDIRECT_PAGE_LIFETIME_MS - 1000);
      await fs.utimes(path.join(redirectPageDir(stateRoot), stale!), past, past);
      let fresh = '';
      await openBrowserWithToken(url, stateRoot, async (target) => {
        fresh = path.basename(target);
        return true;
      });
      assert.deepEqual(await fs.readdir(redirectPageDir(stateRoot)), [fresh]);
    });

    it('opens nothing when the page cannot be written', async () => {
      await fs.writeFile(path.join(stateRoot, 'run'), 'not a folder');
      let asked = false;
      const opened = await openBrowserWithToken(url, stateRoot, async () => (asked = true));
      assert.deepEqual([opened, asked], [false, false]);
    });
  });
});
