// How an app verifies the proxy's signed identity assertion (x-auth-assertion): an ES256 JWT
// whose key is in the proxy's JWKS. The demo does it with Node's crypto alone; a real app
// would use its JWT library (jose, PyJWT, go-jose, ...), the same steps. Environment:
// ASSERTION_JWKS_URL (where the proxy publishes the keys; never taken from the request, whose
// Host a client chooses), ASSERTION_ISSUER and ASSERTION_AUDIENCE (what to pin).

import { createPublicKey, verify } from 'node:crypto';

const jwksUrl = process.env.ASSERTION_JWKS_URL;
const issuer = process.env.ASSERTION_ISSUER;
const audience = process.env.ASSERTION_AUDIENCE;
const LEEWAY_S = 30;
const CACHE_MS = 300_000; // the JWKS's max-age

let keys = new Map();
let fetchedAt = 0;

async function refresh() {
  const response = await fetch(jwksUrl, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
  const body = await response.json();
  keys = new Map(body.keys.filter((k) => k.kty === 'EC' && k.crv === 'P-256')
    .map((k) => [k.kid, createPublicKey({ key: k, format: 'jwk' })]));
  fetchedAt = Date.now();
}

async function keyFor(kid) {
  // An unknown kid may be a rotation: refetch, at most once per 10 s.
  if (Date.now() - fetchedAt > CACHE_MS || (!keys.has(kid) && Date.now() - fetchedAt > 10_000)) {
    await refresh();
  }
  return keys.get(kid);
}

const json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** `{status: 'verified', claims}`, `{status: 'absent'}`, `{status: 'not configured'}` or
 * `{status: 'invalid', reason}`. */
export async function verifyAssertion(header) {
  if (!jwksUrl) return { status: 'not configured' };
  if (!header) return { status: 'absent' };
  try {
    const parts = String(header).split('.');
    if (parts.length !== 3) throw new Error('not a compact JWS');
    const head = json(parts[0]);
    if (head.alg !== 'ES256') throw new Error(`alg ${head.alg}`);
    const key = await keyFor(head.kid);
    if (!key) throw new Error('unknown kid');
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2], 'base64url');
    if (!verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error('bad signature');
    const claims = json(parts[1]);
    const now = Date.now() / 1000;
    if (claims.iss !== issuer) throw new Error('wrong issuer');
    if (claims.aud !== audience) throw new Error('wrong audience');
    if (!(claims.exp + LEEWAY_S > now)) throw new Error('expired');
    return { status: 'verified', claims };
  } catch (e) {
    return { status: 'invalid', reason: e.message };
  }
}
