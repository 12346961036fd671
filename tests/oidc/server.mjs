// A real, certified OpenID Connect provider (npm `oidc-provider`) for plugdesk's auth_oidc tests.
//
//   node server.mjs CONFIG.json
//
// CONFIG: { "port": 12345, "clients": [oidc-provider client metadata...], "users": { "alice": {...} },
//           "short_lived_clients": ["client ids whose ID tokens live 1 second"] }
// Each user: { "password": "...", "sub": "stable id", "claims": { "email": ..., "name": ..., "groups": [...] },
//              "amr": ["pwd", "otp"] (how the provider says the person signed in; default ["pwd"]) }.
// A fresh RSA signing key (random kid) is made at every start, so a restart is a key rotation.
// The login page is our own small form (username, password, Cancel) so wrong passwords are refused;
// consent is granted automatically (first-party clients).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseQuery } from 'node:querystring';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const users = config.users;
const shortLived = new Set(config.short_lived_clients || []);
const bySub = Object.fromEntries(Object.entries(users).map(([name, u]) => [u.sub, { name, ...u }]));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><main><h1>${title}</h1>${body}</main></body></html>`;

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // `amr` with the openid scope: every ID token says how the person signed in (as Entra ID's do)
  claims: { acr: null, sid: null, auth_time: null, iss: null, openid: ['sub', 'amr'],
            email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  conformIdTokenClaims: config.conform_id_token_claims ?? true,
  ttl: { IdToken: (ctx, token, client) => (client && shortLived.has(client.clientId) ? 1 : 3600) },
  findAccount: async (ctx, id) => {
    const user = bySub[id];
    if (!user) return undefined;
    return { accountId: id, async claims() { return { sub: id, preferred_username: user.name, ...user.claims }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
                                                 accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // our own confirmation page (the default one loads a web font from the internet)
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out of Test IdP', `${form}<p>Sign out of Test IdP too?</p>
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
    },
  },
  cookies: { keys: ['plugdesk-test-cookie-key'] },
});

// The interaction pages: GET shows the form, POST checks the password, /abort cancels.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/abort)?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (match[2]) {
    return provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied',
      error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
  }
  let error = '';
  if (ctx.method === 'POST') {
    const body = parseQuery(await new Promise((resolve) => {
      let data = ''; ctx.req.on('data', (c) => { data += c; }); ctx.req.on('end', () => resolve(data));
    }));
    const user = users[body.username];
    if (user && user.password === body.password) {
      return provider.interactionFinished(ctx.req, ctx.res,
                                          { login: { accountId: user.sub, amr: user.amr || ['pwd'] } },
                                          { mergeWithLastSubmission: false });
    }
    error = '<p role="alert" class="error">Wrong username or password.</p>';
  }
  const client = await provider.Client.find(details.params.client_id);
  ctx.type = 'html';
  ctx.body = page('Test IdP sign-in', `<p>Sign in to continue to ${escapeHtml(client?.clientName || details.params.client_id)}.</p>${error}
<form method="post" action="/interaction/${details.uid}">
<label>Username <input id="idp-username" name="username" autocomplete="username" required></label>
<label>Password <input id="idp-password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in at Test IdP</button></form>
<p><a href="/interaction/${details.uid}/abort">Cancel</a></p>`);
  return undefined;
});

provider.listen(config.port, '127.0.0.1', () => console.log(`ready ${issuer} kid=${signingKey.kid}`));
