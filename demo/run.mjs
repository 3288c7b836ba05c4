// `make demo`: Envoy with the filter, session-sidecar on a SQLite file, a local OpenID
// provider (or your Auth0 tenant), and the demo app, started together. Prints the URL to
// open; Ctrl-C stops all of them. If any of them dies, the others are stopped too.
//
// Environment: DEMO_PORT (8080), OIDC_PORT (9000), APP_PORT (8000), SIDECAR_PORT (9700),
// ADMIN_PORT (9901), AUTH_PORT (9701), DEMO_DB (a SQLite file; default in the run directory).
// With NGINX=1 (`make demo NGINX=1`), NGINX (nginx/nginx.conf, the users' file) is in front
// instead of Envoy, every request checked by session-sidecar's auth service.
// With AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_AUDIENCE set, your Auth0 tenant is used
// instead of the local provider.

import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const env = process.env;
const port = (name, fallback) => Number(env[name] || fallback);
const ports = {
  DEMO_PORT: port('DEMO_PORT', 8080),
  OIDC_PORT: port('OIDC_PORT', 9000),
  APP_PORT: port('APP_PORT', 8000),
  SIDECAR_PORT: port('SIDECAR_PORT', 9700),
  ADMIN_PORT: port('ADMIN_PORT', 9901),
  AUTH_PORT: port('AUTH_PORT', 9701),
};
const withNginx = Boolean(env.NGINX) && env.NGINX !== '0';
const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
if (withNginx && !nginxBin) {
  console.error('demo: NGINX=1 needs nginx; run it with `make demo NGINX=1`, which installs it');
  process.exit(2);
}
const auth0 = env.AUTH0_DOMAIN
  ? { domain: env.AUTH0_DOMAIN, clientId: env.AUTH0_CLIENT_ID, audience: env.AUTH0_AUDIENCE }
  : null;
if (auth0 && (!auth0.clientId || !auth0.audience)) {
  console.error('demo: AUTH0_DOMAIN is set, so AUTH0_CLIENT_ID and AUTH0_AUDIENCE are needed too');
  process.exit(2);
}

const envoyBin = join(root, '.venv', 'bin', 'envoy');
const wasm = join(root, 'target', 'wasm32-wasip1', 'release', 'auth0_session.wasm');
const sidecarBin = join(root, 'target', 'release', 'session-sidecar');
for (const needed of [envoyBin, wasm, sidecarBin]) {
  if (!existsSync(needed)) {
    console.error(`demo: ${needed} is missing; run it with \`make demo\`, which builds it`);
    process.exit(2);
  }
}

const runDir = mkdtempSync(join(tmpdir(), 'auth0-session-demo-'));
const db = env.DEMO_DB || join(runDir, 'sessions.sqlite');
const base = `http://127.0.0.1:${ports.DEMO_PORT}`;
const demoUrl = `${base}/demo/`;
const issuer = auth0 ? `https://${auth0.domain}/` : `http://127.0.0.1:${ports.OIDC_PORT}/`;
const audience = auth0 ? auth0.audience : 'https://demo.example/api';
const sidecarToken = randomBytes(24).toString('base64url');
const adminToken = env.SIDECAR_ADMIN_TOKEN || randomBytes(24).toString('base64url');

const filterConfig = {
  auth0: {
    domain: auth0 ? auth0.domain : `127.0.0.1:${ports.OIDC_PORT}`,
    api: { identifier: audience },
    cluster: 'auth0',
    issuer,
    scope: 'read:data',
    // The SPA's and the device flow's tokens are JWTs for the API; with a scope required,
    // opaque tokens are refused anyway (their scopes cannot be checked).
    accept_opaque: true,
    timeout: '5second',
  },
  // Plain HTTP on loopback, so the cookie cannot be Secure; a short idle window so that the
  // SPA's keep-alive can be seen at work.
  session: {
    cookie: {
      secure: false,
      inactive_lifetime: '3minute',
      max_lifetime: 'day',
      // Required with a sidecar: a forged cookie is refused without asking it.
      signing_keys: [randomBytes(32).toString('base64url')],
    },
  },
  public: ['/demo/', '/healthz'],
  // /reports/ only for sessions holding read:data (the local provider grants it to everyone
  // but users named guest*; with Auth0, assign it to users through RBAC).
  rules: [{ path: '/reports/', allow: { permissions: ['read:data'] } }],
  headers: { 'x-auth-user': 'sub', 'x-auth-email': 'email', 'x-auth-permissions': 'permissions' },
  sidecar: { cluster: 'session_sidecar', token: sidecarToken },
  // A signed identity assertion for the app (x-auth-assertion), with a key made for this run;
  // the app verifies it against the proxy's JWKS (demo/assertion.mjs).
  assertion: {
    issuer: `${base}/`,
    audience: base,
    keys: [generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      .export({ type: 'pkcs8', format: 'pem' })],
  },
  // Server-rendered pages (/app/) log in at the proxy: browser navigations without a session
  // go to the provider's login page and come back to /callback.
  code_flow: {
    client_id: auth0 ? auth0.clientId : 'demo-spa',
    callback: '/callback',
    // The access token from the code exchange must carry the API's permission, as at the
    // login endpoint: ask for it.
    scope: 'openid profile email read:data',
    audience,
    logout_redirect: demoUrl,
  },
};
// Device login (demo/device-login.sh): the local provider's client allows the device grant;
// with Auth0 it needs a Native application, named by AUTH0_DEVICE_CLIENT_ID.
if (!auth0 || env.AUTH0_DEVICE_CLIENT_ID) {
  filterConfig.device = {
    client_id: auth0 ? env.AUTH0_DEVICE_CLIENT_ID : 'demo-spa',
    audience,
    scope: 'openid profile email read:data',
  };
}
const idpCluster = auth0
  ? `  - name: auth0
    type: LOGICAL_DNS
    dns_lookup_family: V4_PREFERRED
    connect_timeout: 3s
    load_assignment:
      cluster_name: auth0
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: ${auth0.domain}, port_value: 443}}}}]}]
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        upstream_http_protocol_options: {auto_sni: true, auto_san_validation: true}
        explicit_http_config: {http_protocol_options: {}}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: ${auth0.domain}
        common_tls_context: {validation_context: {trusted_ca: {filename: /etc/ssl/certs/ca-certificates.crt}}}`
  : `  - name: auth0
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: auth0
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${ports.OIDC_PORT}}}}}]}]`;
const envoyYaml = readFileSync(join(here, 'envoy.template.yaml'), 'utf8')
  .replaceAll('{{LISTEN}}', '127.0.0.1')
  .replaceAll('{{FILTER_CONFIG}}', JSON.stringify(JSON.stringify(filterConfig)))
  .replaceAll('{{WASM}}', JSON.stringify(wasm))
  .replaceAll('{{IDP_CLUSTER}}', idpCluster)
  .replace(/\{\{(\w+_PORT)\}\}/g, (_, name) => String(ports[name]));
// `node demo/run.mjs --print-envoy-config` prints the Envoy configuration and starts nothing:
// the tests check the shipped configurations (TLS host-name checks, header policy) this way.
if (process.argv.includes('--print-envoy-config')) {
  rmSync(runDir, { recursive: true, force: true });
  process.stdout.write(envoyYaml);
  process.exit(0);
}
const envoyConfig = join(runDir, 'envoy.yaml');
writeFileSync(envoyConfig, envoyYaml);

// NGINX: the users' nginx/nginx.conf with the demo's ports, in its own prefix directory.
const filterConfigFile = join(runDir, 'filter.json');
writeFileSync(filterConfigFile, JSON.stringify(filterConfig, null, 2));
const nginxPrefix = join(runDir, 'nginx');
const nginxConfig = join(nginxPrefix, 'nginx.conf');
if (withNginx) {
  let conf = readFileSync(join(root, 'nginx', 'nginx.conf'), 'utf8');
  for (const [from, to] of [
    ['listen 127.0.0.1:8080;', `listen 127.0.0.1:${ports.DEMO_PORT};`],
    ['server 127.0.0.1:3000;', `server 127.0.0.1:${ports.APP_PORT};`],
    ['server 127.0.0.1:9701;', `server 127.0.0.1:${ports.AUTH_PORT};`],
    ['server 127.0.0.1:9700;', `server 127.0.0.1:${ports.SIDECAR_PORT};`],
    // The demo's configuration adds x-auth-permissions to `headers`: its own pair, as the
    // file's header comment tells users to do.
    ['            auth_request_set $auth_email $upstream_http_x_auth_email;\n',
      '            auth_request_set $auth_email $upstream_http_x_auth_email;\n'
      + '            auth_request_set $auth_permissions $upstream_http_x_auth_permissions;\n'],
    ['            proxy_set_header X-Auth-Email $auth_email;\n',
      '            proxy_set_header X-Auth-Email $auth_email;\n'
      + '            proxy_set_header X-Auth-Permissions $auth_permissions;\n'],
  ]) {
    if (!conf.includes(from)) throw new Error(`nginx/nginx.conf no longer has ${from}`);
    conf = conf.replace(from, to);
  }
  mkdirSync(join(nginxPrefix, 'logs'), { recursive: true });
  mkdirSync(join(nginxPrefix, 'tmp'), { recursive: true });
  writeFileSync(nginxConfig, conf);
}

const children = [];
let stopping = false;

function start(name, command, args, extraEnv = {}) {
  const log = createWriteStream(join(runDir, `${name}.log`));
  const child = spawn(command, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.name = name;
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`demo: ${name} exited (${signal || code}); see ${join(runDir, `${name}.log`)}`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

async function stop(code) {
  if (stopping) return;
  stopping = true;
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const child of alive) child.kill('SIGTERM');
  const exited = Promise.all(alive.map((c) => new Promise((done) => c.once('exit', done))));
  const killer = setTimeout(() => alive.forEach((c) => c.kill('SIGKILL')), 5_000);
  await exited;
  clearTimeout(killer);
  console.log('demo: stopped');
  process.exit(code);
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

async function ready(name, url, timeoutMs = 30_000, accept = () => true) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (r.ok && accept(await r.text())) return;
    } catch { /* not yet */ }
    await new Promise((done) => setTimeout(done, 100));
  }
  console.error(`demo: ${name} did not come up; see ${runDir}`);
  await stop(1);
}

const spaEnv = {
  OIDC_ISSUER: issuer,
  API_AUDIENCE: audience,
  APP_PORT: String(ports.APP_PORT),
  OIDC_PORT: String(ports.OIDC_PORT),
  REDIRECT_URIS: `${demoUrl},${base}/callback`,
  ASSERTION_JWKS_URL: `${base}/.well-known/auth0-session/jwks.json`,
  ASSERTION_ISSUER: `${base}/`,
  ASSERTION_AUDIENCE: base,
};
const authArgs = withNginx
  ? ['--filter-config', filterConfigFile, '--auth-listen', `127.0.0.1:${ports.AUTH_PORT}`]
  : [];
start('sidecar', sidecarBin, ['--db', db, '--listen', `127.0.0.1:${ports.SIDECAR_PORT}`, ...authArgs], {
  SIDECAR_TOKEN: sidecarToken,
  SIDECAR_ADMIN_TOKEN: adminToken,
});
if (!auth0) start('provider', process.execPath, [join(here, 'provider.mjs')], spaEnv);
start('app', process.execPath, [join(here, 'app.mjs')], spaEnv);
if (withNginx) {
  start('nginx', nginxBin, ['-p', nginxPrefix, '-c', nginxConfig, '-e', join(nginxPrefix, 'logs', 'error.log'),
    '-g', 'daemon off;']);
} else {
  start('envoy', envoyBin, ['-c', envoyConfig, '--concurrency', '2', '--disable-hot-restart', '-l', 'warning']);
}

await ready('sidecar', `http://127.0.0.1:${ports.SIDECAR_PORT}/healthz`);
if (!auth0) await ready('provider', `${issuer}.well-known/openid-configuration`);
await ready('app', `http://127.0.0.1:${ports.APP_PORT}/healthz`);
if (withNginx) {
  await ready('the auth service', `http://127.0.0.1:${ports.AUTH_PORT}/_auth/ready`);
  await ready('nginx', `${base}/demo/`);
} else {
  await ready('envoy', `http://127.0.0.1:${ports.ADMIN_PORT}/ready`);
  // Envoy is ready once its listeners are, but a login is refused (503 idp_unavailable)
  // until the filter holds the provider's signing keys: wait for the first good fetch, so
  // "running" below means a login works (a slow first fetch is retried every 5 s).
  await ready('the filter\'s signing keys', `http://127.0.0.1:${ports.ADMIN_PORT}/stats?filter=auth0_session%5C.jwks%5C.fetch_ok`,
    60_000, (body) => /fetch_ok: [1-9]/.test(body));
}
if (!stopping) {
  console.log(`
envoy-auth0-session demo is running${auth0 ? ` against ${auth0.domain}` : ''}, ${withNginx ? 'NGINX with the auth service' : 'Envoy with the filter'} in front:

  open ${demoUrl}            (an SPA: it gets a token itself)
    or ${base}/app/         (a server-rendered page: login happens at the proxy)
    or demo/device-login.sh ${base}   (a terminal: device login)
  ${auth0 ? '' : 'log in with any user name and any password on the provider\'s page\n  '}sessions: ${db}
  admin API: http://127.0.0.1:${ports.SIDECAR_PORT}/admin/sessions  (Authorization: Bearer ${adminToken})
  logs: ${runDir}

Ctrl-C stops everything.`);
}
