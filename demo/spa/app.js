// The demo SPA: gets an access token with authorization code + PKCE, trades it for a session
// at the filter, shows the session, calls the protected API, keeps the session alive as
// mo-auth's example SPA does, logs out. Every error from the filter is shown, never swallowed.

const $ = (id) => document.getElementById(id);
const config = await (await fetch('config.json')).json();
const redirectUri = new URL('.', location.href).href;
const KEEP_ALIVE_WHEN_LEFT_MS = 120_000;
let idleDeadline = null;

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function showError(what, detail) {
  $('error').hidden = false;
  $('error').textContent = `${what}: ${typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2)}`;
}

async function answer(response) {
  const text = await response.text();
  try { return JSON.parse(text); } catch { return text; }
}

function showSignedIn(signedIn) {
  $('signed-in').hidden = !signedIn;
  $('signed-out').hidden = signedIn;
}

function showDeadlines(session) {
  if (session.expires) $('expires').textContent = session.expires;
  if (session.inactive_lifetime) $('inactive').textContent = `${session.inactive_lifetime} s`;
  if (session.idle_expires) {
    idleDeadline = Date.parse(session.idle_expires);
  } else if (session.inactive_lifetime) {
    idleDeadline = Date.now() + session.inactive_lifetime * 1000;
  }
  if (idleDeadline) $('idle').textContent = new Date(idleDeadline).toISOString().replace(/\.\d+Z$/, 'Z');
}

async function startLogin() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const url = new URL(config.authorize_url);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: redirectUri,
    scope: config.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    [config.audience_param]: config.audience,
  });
  location.assign(url);
}

async function finishLogin(params) {
  const saved = JSON.parse(sessionStorage.getItem('pkce') || '{}');
  sessionStorage.removeItem('pkce');
  history.replaceState(null, '', redirectUri);
  if (params.get('error')) return showError('The identity provider refused', params.get('error_description') || params.get('error'));
  if (!saved.state || params.get('state') !== saved.state) return showError('Login failed', 'state mismatch');
  const tokenResponse = await fetch(config.token_url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: redirectUri,
      client_id: config.client_id,
      code_verifier: saved.verifier,
    }),
  });
  const tokens = await answer(tokenResponse);
  if (!tokenResponse.ok) return showError('Token request failed', tokens);
  // Trade the access token for a session: the cookie is set by the filter's answer.
  const login = await fetch(config.endpoints.login, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const session = await answer(login);
  if (!login.ok) return showError(`Login endpoint answered ${login.status}`, session);
  showDeadlines(session);
  await callApi();
}

async function callApi() {
  const response = await fetch('/api/me');
  const body = await answer(response);
  $('api').textContent = `${response.status} ${JSON.stringify(body, null, 2)}`;
  if (response.ok) {
    $('user').textContent = body.user;
    $('email').textContent = body.email;
    const a = body.assertion || {};
    $('assertion').textContent = a.verified ? `verified: sub ${a.sub}, session ${a.sid}` : `${a.status} ${a.reason || ''}`.trim();
    $('name').textContent = body.email || body.user;
    showSignedIn(true);
    await listSessions();
  } else {
    showSignedIn(false);
  }
  return response.status;
}

// The user's own sessions: every device this user is logged in on, with an "end" button for
// each other one. Ending a session is a same-origin DELETE; the filter refuses cross-site ones.
async function listSessions() {
  const response = await fetch(config.endpoints.sessions);
  const body = await answer(response);
  if (!response.ok) return showError(`Sessions list answered ${response.status}`, body);
  const rows = body.map((s) => {
    const row = document.createElement('tr');
    row.dataset.id = s.id;
    if (s.current) row.className = 'current';
    for (const text of [s.user_agent || 'unknown device', s.created, s.last_seen, s.expires]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement('td');
    if (s.current) {
      cell.textContent = 'this one';
    } else {
      const end = document.createElement('button');
      end.textContent = 'end';
      end.className = 'end-session';
      end.onclick = () => endSession(s.id).catch((e) => showError('Ending the session failed', String(e)));
      cell.append(end);
    }
    row.append(cell);
    return row;
  });
  $('sessions').querySelector('tbody').replaceChildren(...rows);
}

async function endSession(id) {
  const response = await fetch(`${config.endpoints.sessions}/${encodeURIComponent(id)}`, { method: 'DELETE' });
  if (!response.ok) return showError(`Ending a session answered ${response.status}`, await answer(response));
  await listSessions();
}

async function logoutOthers() {
  const response = await fetch(`${config.endpoints.sessions}/logout-others`, { method: 'POST' });
  if (!response.ok) return showError(`Logging out elsewhere answered ${response.status}`, await answer(response));
  await listSessions();
}

async function keepAlive() {
  const response = await fetch(config.endpoints.keep_alive);
  const body = await answer(response);
  if (!response.ok) {
    showSignedIn(false);
    return showError(`Keep-alive answered ${response.status}`, body);
  }
  showDeadlines(body);
}

async function logout() {
  const response = await fetch(config.endpoints.logout, { method: 'POST' });
  if (!response.ok) return showError(`Logout answered ${response.status}`, await answer(response));
  idleDeadline = null;
  await callApi();
}

$('login').onclick = () => startLogin().catch((e) => showError('Login failed', String(e)));
$('call-api').onclick = () => callApi().catch((e) => showError('API call failed', String(e)));
$('ping').onclick = () => keepAlive().catch((e) => showError('Keep-alive failed', String(e)));
$('logout').onclick = () => logout().catch((e) => showError('Logout failed', String(e)));
$('refresh-sessions').onclick = () => listSessions().catch((e) => showError('Sessions list failed', String(e)));
$('logout-others').onclick = () => logoutOthers().catch((e) => showError('Logging out elsewhere failed', String(e)));

// Ready: the buttons work from here on (the page may have been shown before config.json came).
$('login').disabled = false;
document.body.dataset.ready = 'true';

setInterval(() => {
  if (idleDeadline && idleDeadline - Date.now() < KEEP_ALIVE_WHEN_LEFT_MS) keepAlive();
}, 5_000);

const params = new URLSearchParams(location.search);
if (params.has('code') || params.has('error')) {
  await finishLogin(params).catch((e) => showError('Login failed', String(e)));
} else {
  // Already signed in? The cookie (if any) is HttpOnly: ask the API. Then the deadlines.
  if ((await callApi()) === 200) await keepAlive();
}
