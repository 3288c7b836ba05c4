// The demo app behind Envoy. It has no login code at all: it reads who the user is from the
// x-auth-user / x-auth-email headers the filter adds, checks the signed x-auth-assertion
// against the proxy's keys (assertion.mjs), and serves the demo SPA's files (on
// the public path /demo/). Environment: APP_PORT (8000), APP_LISTEN (127.0.0.1), and the
// SPA's settings (see spaConfig).

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

import { verifyAssertion } from './assertion.mjs';

const port = Number(process.env.APP_PORT || 8000);
const listen = process.env.APP_LISTEN || '127.0.0.1';
const spaDir = join(fileURLToPath(new URL('.', import.meta.url)), 'spa');

// What the SPA needs to know to get a token by itself (authorization code + PKCE).
function spaConfig() {
  const domain = process.env.AUTH0_DOMAIN;
  const issuer = domain ? `https://${domain}/` : process.env.OIDC_ISSUER || 'http://127.0.0.1:9000/';
  return {
    provider: domain ? 'auth0' : 'local',
    authorize_url: `${issuer}authorize`,
    token_url: `${issuer}oauth/token`,
    client_id: process.env.AUTH0_CLIENT_ID || 'demo-spa',
    audience: process.env.AUTH0_AUDIENCE || process.env.API_AUDIENCE || 'https://demo.example/api',
    // Auth0 names the API with `audience`; node-oidc-provider with RFC 8707's `resource`.
    audience_param: domain ? 'audience' : 'resource',
    scope: 'openid profile email read:data',
    endpoints: { login: '/authorize', logout: '/logout', keep_alive: '/ping', sessions: '/sessions' },
  };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png' };

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://app').pathname;
  if (path === '/healthz') return json(res, 200, { ok: true });
  if (path === '/api/me') {
    // Protected by the filter: reaching here means a live session.
    const assertion = await verifyAssertion(req.headers['x-auth-assertion']);
    return json(res, 200, {
      user: req.headers['x-auth-user'] ?? null,
      email: req.headers['x-auth-email'] ?? null,
      assertion: assertion.status === 'verified'
        ? { verified: true, sub: assertion.claims.sub, sid: assertion.claims.sid, exp: assertion.claims.exp }
        : { verified: false, status: assertion.status, reason: assertion.reason },
      session_cookie_seen_by_app: /(^|;\s*)session=/.test(req.headers.cookie ?? ''),
      at: new Date().toISOString(),
    });
  }
  if (path === '/demo/config.json') return json(res, 200, spaConfig());
  if (path === '/app' || path.startsWith('/app/')) {
    // A server-rendered page with no login code: the filter sent the browser through the
    // identity provider's login page if needed, and tells us who it is.
    const user = escapeHtml(req.headers['x-auth-user'] ?? '');
    const email = escapeHtml(req.headers['x-auth-email'] ?? '');
    const assertion = await verifyAssertion(req.headers['x-auth-assertion']);
    const proof = assertion.status === 'verified'
      ? `<p>The signed <code>x-auth-assertion</code> is <strong id="assertion">verified</strong> against the proxy's keys:
it says <code>sub: <span id="assertion-sub">${escapeHtml(assertion.claims.sub)}</span></code>, roles
<code id="assertion-roles">${escapeHtml((assertion.claims.roles || []).join(' '))}</code>, valid until
<span id="assertion-exp">${new Date(assertion.claims.exp * 1000).toISOString()}</span>.</p>`
      : `<p>The signed <code>x-auth-assertion</code>: <strong id="assertion">${escapeHtml(assertion.status)}</strong>
${escapeHtml(assertion.reason ?? '')}</p>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server-rendered page</title>
<link rel="stylesheet" href="/demo/style.css"></head><body>
<h1>Hello, <span id="who">${email || user}</span></h1>
<p>This page is rendered by the app, which has no login code: it read <code>x-auth-user: <span id="user">${user}</span></code>
and <code>x-auth-email: <span id="email">${email}</span></code> from the request.</p>
${proof}
<p><a href="/demo/">The SPA</a> · <a id="logout" href="/logout">Log out</a></p></body></html>`);
  }
  if (path === '/reports/' || path.startsWith('/reports/')) {
    // Behind a rule that asks the read:data permission: the filter answered 403 to anyone
    // else, so reaching here is the authorization.
    const user = escapeHtml(req.headers['x-auth-user'] ?? '');
    const permissions = escapeHtml(req.headers['x-auth-permissions'] ?? '');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Reports</title>
<link rel="stylesheet" href="/demo/style.css"></head><body>
<h1 id="reports">Reports</h1>
<p>Only sessions holding the <code>read:data</code> permission reach this page (a rule in the
filter's configuration). <span id="user">${user}</span> holds: <code id="permissions">${permissions}</code>.</p>
<p><a href="/app/">Your page</a> · <a href="/logout">Log out</a></p></body></html>`);
  }
  if (path.startsWith('/demo/')) {
    const file = normalize(path.slice('/demo/'.length) || 'index.html');
    if (file.startsWith('..')) return json(res, 404, { error: 'not_found' });
    try {
      const body = await readFile(join(spaDir, file === '.' ? 'index.html' : file));
      res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
      return res.end(body);
    } catch {
      return json(res, 404, { error: 'not_found' });
    }
  }
  return json(res, 404, { error: 'not_found', path });
});

server.listen(port, listen, () => console.log(`demo app: http://${listen}:${port}`));
