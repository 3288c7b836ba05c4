// The demo, as a person uses it: headless Debian chromium driven by playwright-core opens
// the demo, logs in through the provider's own login page, sees who it is, calls the
// protected API, logs out, and the API then answers 401; a page behind a rule is reached by
// a user holding its permission and refused (403) to one who does not. Run by `make test`.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const screenshotDir = join(root, 'target', 'demo');

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    }).on('error', fail);
  });
}

async function portOpen(port) {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
    return true;
  } catch (e) {
    return !String(e.cause?.code || e).includes('ECONNREFUSED');
  }
}

let demo;
let ports;
let output = '';
let browser;

before(async () => {
  ports = {
    DEMO_PORT: await freePort(), OIDC_PORT: await freePort(), APP_PORT: await freePort(),
    SIDECAR_PORT: await freePort(), ADMIN_PORT: await freePort(), AUTH_PORT: await freePort(),
  };
  const env = { ...process.env };
  for (const name of ['AUTH0_DOMAIN', 'AUTH0_CLIENT_ID', 'AUTH0_AUDIENCE']) delete env[name];
  for (const [name, value] of Object.entries(ports)) env[name] = String(value);
  demo = spawn(process.execPath, [join(root, 'demo', 'run.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout.on('data', (d) => { output += d; });
  demo.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 60_000;
  while (!output.includes('Ctrl-C stops everything')) {
    if (demo.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not start:\n${output}`);
    await new Promise((done) => setTimeout(done, 100));
  }
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) demo.kill('SIGKILL');
});

test('log in through the provider, call the API, log out', async () => {
  const page = await browser.newPage();
  const url = `http://127.0.0.1:${ports.DEMO_PORT}/demo/`;
  await page.goto(url);
  await page.waitForSelector('body[data-ready=true]');
  await page.click('#login');

  // The provider's own login page: any user name, any password.
  await page.waitForURL((u) => u.port === String(ports.OIDC_PORT));
  await page.fill('input[name=login]', 'alice');
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');

  await page.waitForURL((u) => u.port === String(ports.DEMO_PORT), { timeout: 15_000 }).catch(async (e) => {
    mkdirSync(screenshotDir, { recursive: true });
    await page.screenshot({ path: join(screenshotDir, 'stuck.png'), fullPage: true });
    throw new Error(`${e.message}\nat ${page.url()}\n${(await page.textContent('body')).slice(0, 2000)}`);
  });
  await page.waitForSelector('#signed-in:not([hidden])', { timeout: 15_000 }).catch(async (e) => {
    throw new Error(`${e.message}\nerror shown: ${await page.textContent('#error')}\napi: ${await page.textContent('#api')}`);
  });
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  assert.equal(await page.textContent('#user'), 'alice');
  assert.equal(await page.textContent('#email'), 'alice@example.com');
  // The app verified the proxy's signed assertion against its JWKS.
  assert.match(await page.textContent('#assertion'), /^verified: sub alice, session [0-9a-f]{24}$/);
  assert.match(await page.textContent('#expires'), /^\d{4}-\d\d-\d\dT/);
  assert.equal(await page.textContent('#inactive'), '180 s');

  // The session cookie is HttpOnly: the page's script cannot read it.
  assert.equal(await page.evaluate(() => document.cookie.includes('session=')), false);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'session');
  assert.ok(session?.httpOnly, 'an HttpOnly session cookie');
  assert.equal(session.sameSite, 'Lax');

  await page.click('#call-api');
  await page.waitForFunction(() => document.querySelector('#api').textContent.startsWith('200'));
  const api = await page.textContent('#api');
  assert.match(api, /"user": "alice"/);
  assert.match(api, /"session_cookie_seen_by_app": false/, 'the app never sees the session cookie');

  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, 'logged-in.png'), fullPage: true });

  await page.click('#ping');
  await page.waitForFunction(() => document.querySelector('#idle').textContent !== '');

  await page.click('#logout');
  await page.waitForSelector('#signed-out:not([hidden])');
  assert.match(await page.textContent('#api'), /^401 /);
  const direct = await page.evaluate(async () => (await fetch('/api/me')).status);
  assert.equal(direct, 401, 'the protected API refuses after logout');
});

async function spaLogin(context, user) {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${ports.DEMO_PORT}/demo/`);
  await page.waitForSelector('body[data-ready=true]');
  await page.click('#login');
  await page.waitForURL((u) => u.port === String(ports.OIDC_PORT));
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
  await page.waitForSelector('#signed-in:not([hidden])', { timeout: 15_000 });
  return page;
}

test('the sessions list: a second device is seen, and ended from the first', async () => {
  const laptop = await browser.newContext();
  const phone = await browser.newContext();
  const a = await spaLogin(laptop, 'dora');
  const b = await spaLogin(phone, 'dora');
  await a.click('#refresh-sessions');
  await a.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 2);
  assert.equal(await a.isHidden('#error'), true, await a.textContent('#error'));
  const rows = await a.$$eval('#sessions tbody tr', (trs) => trs.map((tr) => ({
    current: tr.className === 'current', cells: [...tr.cells].map((td) => td.textContent) })));
  assert.equal(rows.filter((r) => r.current).length, 1, 'exactly one is this one');
  for (const row of rows) {
    assert.match(row.cells[0], /Chrome \d+ on Linux/, 'a user-agent summary');
    assert.match(row.cells[1], /^\d{4}-\d\d-\d\dT/);
  }
  mkdirSync(screenshotDir, { recursive: true });
  await a.screenshot({ path: join(screenshotDir, 'sessions.png'), fullPage: true });

  await a.click('#sessions .end-session');
  await a.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 1);
  assert.equal(await a.isHidden('#error'), true, await a.textContent('#error'));
  // The other device is refused within the revocation bound; this one carries on.
  const deadline = Date.now() + 5_000;
  let status;
  while ((status = await b.evaluate(async () => (await fetch('/api/me')).status)) !== 401) {
    assert.ok(Date.now() < deadline, `the ended session still answers ${status}`);
    await new Promise((done) => setTimeout(done, 100));
  }
  assert.equal(await a.evaluate(async () => (await fetch('/api/me')).status), 200);
  await laptop.close();
  await phone.close();
});

test('a server-rendered page: login at the proxy, back on the page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const url = `http://127.0.0.1:${ports.DEMO_PORT}/app/reports?year=2026`;
  await page.goto(url);
  // No session: the filter sent the browser to the provider's own login page.
  await page.waitForURL((u) => u.port === String(ports.OIDC_PORT));
  await page.fill('input[name=login]', 'bob');
  await page.fill('input[name=password]', 'whatever');
  await page.click('button[type=submit]');
  await page.waitForURL(url, { timeout: 15_000 });
  assert.equal(await page.textContent('#who'), 'bob@example.com');
  assert.equal(await page.textContent('#user'), 'bob');
  assert.equal(await page.textContent('#assertion'), 'verified', await page.textContent('body'));
  assert.equal(await page.textContent('#assertion-sub'), 'bob');
  const cookies = await context.cookies();
  assert.ok(cookies.find((c) => c.name === 'session')?.httpOnly);
  assert.ok(!cookies.some((c) => c.name.startsWith('session_login_')), 'the login cookie is gone');
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, 'server-rendered.png') });
  // An API call from the page is never redirected.
  const status = await page.evaluate(async () => (await fetch('/api/me', { credentials: 'omit' })).status);
  assert.equal(status, 401);
  await context.close();
});

test('a page only read:data holders reach', async () => {
  const url = `http://127.0.0.1:${ports.DEMO_PORT}/reports/`;
  async function visitAs(user) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const answer = page.waitForResponse((r) => r.url() === url && r.request().isNavigationRequest() && r.status() !== 302);
    await page.goto(url);
    await page.waitForURL((u) => u.port === String(ports.OIDC_PORT));
    await page.fill('input[name=login]', user);
    await page.fill('input[name=password]', 'whatever');
    await page.click('button[type=submit]');
    const response = await answer;
    return { context, page, response };
  }
  const reader = await visitAs('dave');
  assert.equal(reader.response.status(), 200);
  await reader.page.waitForSelector('#reports');
  assert.equal(await reader.page.textContent('#user'), 'dave');
  assert.match(await reader.page.textContent('#permissions'), /(^| )read:data( |$)/);
  mkdirSync(screenshotDir, { recursive: true });
  await reader.page.screenshot({ path: join(screenshotDir, 'reports.png') });
  await reader.context.close();

  const guest = await visitAs('guest');
  assert.equal(guest.response.status(), 403, 'logged in, but without read:data');
  const body = await guest.response.json();
  assert.equal(body.error, 'insufficient_permissions');
  assert.deepEqual(body.missing, { permissions: ['read:data'] });
  const other = await guest.page.evaluate(async () => (await fetch('/api/me')).status);
  assert.equal(other, 200, 'the same session reaches what no rule restricts');
  await guest.context.close();
});

test('errors from the filter are shown to the person', async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${ports.DEMO_PORT}/demo/?code=forged&state=nope`);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /state mismatch/);
});

test('device login: the example client in a terminal, approved on the provider\'s page', async () => {
  const cli = spawn('bash', [join(root, 'demo', 'device-login.sh'), `http://127.0.0.1:${ports.DEMO_PORT}`]);
  let said = '';
  cli.stdout.on('data', (d) => { said += d; });
  cli.stderr.on('data', (d) => { said += d; });
  const deadline = Date.now() + 15_000;
  // Both lines: they may arrive in separate reads.
  while (!/open (\S+)[\s\S]*shows the code (\S+)\./.test(said)) {
    assert.ok(Date.now() < deadline && cli.exitCode === null, said);
    await new Promise((done) => setTimeout(done, 100));
  }
  const url = said.match(/open (\S+)/)[1];
  const code = said.match(/shows the code (\S+)\./)[1];
  assert.equal(new URL(url).port, String(ports.OIDC_PORT), 'the provider\'s own page');

  // On "another device": the provider shows the code, the person logs in and confirms.
  const page = await browser.newPage();
  await page.goto(url);
  assert.match(await page.textContent('body'), new RegExp(code));
  await page.click('button[type=submit]');
  await page.fill('input[name=login]', 'carol');
  await page.fill('input[name=password]', 'whatever');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.body.textContent.includes('successful'));

  const exit = await new Promise((done) => cli.exitCode === null ? cli.once('exit', done) : done(cli.exitCode));
  assert.equal(exit, 0, said);
  assert.match(said, /Logged in\./);
  assert.match(said, /"user":"carol"/);
  assert.match(said, /"email":"carol@example.com"/);
  await page.close();
});

test('Ctrl-C stops everything the demo started', async () => {
  demo.kill('SIGINT');
  const code = await new Promise((done) => demo.once('exit', done));
  assert.equal(code, 0, output);
  for (const [name, port] of Object.entries(ports)) {
    assert.equal(await portOpen(port), false, `${name} ${port} still answers after Ctrl-C`);
  }
});
