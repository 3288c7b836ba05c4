// A local OpenID provider standing in for an Auth0 tenant: node-oidc-provider, configured so
// that the filter cannot tell the difference. Issuer with a trailing slash; Auth0's paths
// (/authorize, /oauth/token, /userinfo, /.well-known/jwks.json, /v2/logout,
// /oauth/device/code); RS256 JWT access tokens with a `kid` for the API audience, opaque
// access tokens without one (with a `permissions` claim, as Auth0 RBAC adds); its own login
// page, which accepts any user name.
//
// Environment: OIDC_PORT (9000), OIDC_LISTEN (127.0.0.1), OIDC_ISSUER
// (http://127.0.0.1:$OIDC_PORT/), API_AUDIENCE, REDIRECT_URIS (comma-separated).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 9000);
const listen = process.env.OIDC_LISTEN || '127.0.0.1';
const issuer = process.env.OIDC_ISSUER || `http://127.0.0.1:${port}/`;
const audience = process.env.API_AUDIENCE || 'https://demo.example/api';
const redirectUris = (process.env.REDIRECT_URIS || 'http://127.0.0.1:8080/demo/').split(',');
const apiScope = 'read:data';

// A fresh signing key per run, published with a kid, as Auth0 does.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `demo-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

// Any user name logs in; the profile is made up from it.
function profile(sub) {
  const name = sub.replace(/^[^|]*\|/, '');
  return { sub, email: `${name}@example.com`, email_verified: true, name: name.charAt(0).toUpperCase() + name.slice(1) };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'demo-spa',
    client_name: 'envoy-auth0-session demo',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris,
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  routes: {
    authorization: '/authorize',
    token: '/oauth/token',
    userinfo: '/userinfo',
    jwks: '/.well-known/jwks.json',
    end_session: '/v2/logout',
    device_authorization: '/oauth/device/code',
  },
  scopes: ['openid', 'profile', 'email'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf || audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== audience) throw new errors.InvalidTarget();
        return { scope: apiScope, audience, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // Like an Auth0 Action that adds the profile to API access tokens, and Auth0 RBAC's
  // `permissions` claim: every user holds read:data except those named guest*, so the demo's
  // /reports/ page (a rule asking read:data) can be seen refusing someone.
  extraTokenClaims: async (ctx, token) => {
    if (!token.resourceServer) return undefined;
    const { email, name } = profile(token.accountId);
    const guest = token.accountId.replace(/^[^|]*\|/, '').startsWith('guest');
    return { email, name, permissions: guest ? [] : [apiScope] };
  },
  // A first-party app: no consent screen, as Auth0 does for its own applications.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email');
    grant.addOIDCClaims(['email', 'email_verified', 'name']);
    grant.addResourceScope(audience, apiScope);
    await grant.save();
    return grant;
  },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => profile(sub) }),
  clientBasedCORS: (ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
});

provider.on('server_error', (ctx, err) => console.error('provider error:', err));
provider.listen(port, listen, () => {
  console.log(`oidc provider: ${issuer} (listening on ${listen}:${port})`);
});
