// Drives the dashboard at URL/ui in Debian's chromium, as a person would:
// node run.js URL KEY EXAMPLES_DIR. Exits non-zero, saying why, on the first
// thing that does not hold. Used by crates/wisp/tests/ui.rs.
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');

const [url, key, examples] = process.argv.slice(2);
const XSS = '<img src=x onerror=alert(1)>';

function check(ok, what) {
  if (!ok) throw new Error(what);
  console.log('ok: ' + what);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.WISP_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // As the machine's probe runs it: no sandbox (tests run as root), and no
    // background connections (the network is closed).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('dialog', (d) => { problems.push('a dialog opened: ' + d.message()); d.dismiss(); });
    page.setDefaultTimeout(10000);

    // The page and its policy.
    const first = await page.goto(url + '/ui');
    check(first.status() === 200, '/ui answers 200');
    check(first.headers()['content-security-policy'] === "default-src 'self'", "CSP is default-src 'self'");
    check(first.headers()['x-content-type-options'] === 'nosniff', 'nosniff');

    // Sign in; the key is in sessionStorage, not in a cookie.
    await page.getByTestId('signin-key').fill(key);
    await page.getByTestId('signin-button').click();
    await page.getByTestId('signout').waitFor();
    check((await page.evaluate(() => Object.keys(sessionStorage).length)) > 0, 'the key is kept in sessionStorage');
    check((await page.context().cookies()).length === 0, 'no cookie is set');

    // The server's key sees the node's figures.
    await page.getByTestId('node-inflight').waitFor();
    check(/^0 \/ \d+$/.test(await page.locator('[data-testid=node-inflight] .fig-value').textContent()), 'the overview shows instances in flight out of the pool');
    check((await page.getByTestId('node-actions').textContent()).includes('Actions deployed'), 'the overview shows the node figures');

    // Deploy by upload, then invoke from the console.
    const deploy = async (name, file) => {
      await page.goto(url + '/ui#/deploy');
      await page.getByTestId('deploy-name').fill(name);
      await page.getByTestId('deploy-file').setInputFiles(path.join(examples, file));
      await page.getByTestId('deploy-button').click();
      await page.waitForFunction(() => /"version"/.test(document.querySelector('[data-testid=deploy-result]').textContent));
    };
    await deploy('greet', 'json-rust.wasm');
    check(true, 'deployed greet (json-rust.wasm) by upload');
    const invoke = async (name, params) => {
      await page.goto(url + '/ui#/action/' + name);
      await page.getByTestId('invoke-params').fill(JSON.stringify(params));
      const before = await page.getByTestId('invoke-result').textContent();
      await page.getByTestId('invoke-button').click();
      await page.waitForFunction((b) => {
        const t = document.querySelector('[data-testid=invoke-result]').textContent;
        return t && t !== b;
      }, before);
      return page.getByTestId('invoke-result').textContent();
    };
    check((await invoke('greet', { name: 'edge' })).includes('Hello, edge!'), 'the console shows the result');

    // The activation, with its logs.
    await page.goto(url + '/ui#/action/greet');
    await page.getByTestId('activation-open').first().click();
    await page.getByTestId('activation-logs').waitFor();
    const logs = await page.getByTestId('activation-logs').textContent();
    check(logs.includes('greeting edge') && logs.includes('a line on stderr'), 'the activation shows its logs');

    // A second version, then a rollback from the page: the old answer again.
    await deploy('greet', 'cpp-primes.wasm');
    check(!(await invoke('greet', { name: 'edge', n: 10 })).includes('Hello'), 'version 0.0.2 answers differently');
    await page.goto(url + '/ui#/action/greet');
    await page.getByTestId('rollback-0.0.1').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=current-version]')?.textContent.includes('0.0.1'));
    check((await invoke('greet', { name: 'back' })).includes('Hello, back!'), 'after the rollback the old version answers');

    // Markup in a result and in logs is shown as text and runs nothing.
    const shown = await invoke('greet', { name: XSS });
    check(shown.includes(XSS), 'the result shows the markup as text');
    await page.goto(url + '/ui#/action/greet');
    await page.getByTestId('activation-open').first().click();
    await page.getByTestId('activation-logs').waitFor();
    check((await page.getByTestId('activation-logs').textContent()).includes('greeting ' + XSS), 'the logs show the markup as text');
    check((await page.locator('img').count()) === 0, 'no element was made from it');

    // The charts on an action's page.
    await page.goto(url + '/ui#/action/greet');
    await page.getByTestId('chart-calls').waitFor();
    await page.getByTestId('chart-latency').waitFor();
    check(true, "the action's page draws its charts");

    // The server's key manages namespaces: a new one, its key shown once.
    await page.goto(url + '/ui#/namespaces');
    await page.getByTestId('ns-create-name').fill('team');
    await page.getByTestId('ns-create-button').click();
    await page.waitForFunction(() => /:/.test(document.querySelector('[data-testid=ns-new-key]')?.textContent || ''));
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=ns-row]')].some((r) => r.textContent.includes('team')));
    check(true, 'a namespace is created from the page, its key shown once');

    // Sign-out forgets the key.
    await page.getByTestId('signout').click();
    await page.getByTestId('signin-key').waitFor();
    check((await page.evaluate(() => Object.keys(sessionStorage).length)) === 0, 'sign-out forgets the key');
    check(problems.length === 0, 'no script error and no dialog: ' + problems.join('; '));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error('FAILED: ' + e.message);
  process.exit(1);
});
