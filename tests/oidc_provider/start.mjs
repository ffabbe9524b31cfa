// The OpenID provider the test suite signs in with: panva's oidc-provider, certified
// conformant, on loopback. It plays an e-legitimation broker (people carrying Swedish
// personnummer claims) and a company's staff identity provider (email addresses) at once.
//
//   node start.mjs --port 0 --clients '[{"client_id": ..., "client_secret": ..., "redirect_uris": [...]}]'
//
// Once it listens it prints one line of JSON, {"issuer": ..., "port": ...}, and serves until
// it is terminated. Its sign-in page (/interaction/<uid>) asks for a login name: a person
// below, an email address (a staff member, email_verified true), or "unverified:<email>"
// (email_verified false). "Cancel" ends the sign-in with access_denied, as a person who
// closes the BankID app would.
//
// Faults, each of them the real provider with one thing wrong, for the failure tests:
//   --jwks other-key            the key set published no longer holds the signing key
//   --jwks same-kid-other-key   the published key under the signing key's kid is another key
//   --discovery wrong-issuer    the discovery document names another issuer
//   --discovery not-json        the discovery document is an HTML page
//   --id-token-ttl N            seconds an ID token lives (default 300)
//   --id-token-audience AUD     ID tokens are signed (with the provider's own key) for AUD
//   --keys FILE [--rotate-key]  keep the private keys in FILE; a new signing key in front
//   --claims-in-id-token        identity claims in the ID token as well as from userinfo
import { createServer } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const PNR = 'https://id.oidc.se/claim/personalIdentityNumber';
const COORDINATION = 'https://id.oidc.se/claim/coordinationNumber';
const PERSON_SCOPE = 'https://id.oidc.se/scope/naturalPersonNumber';
const LOA3 = 'http://id.elegnamnden.se/loa/1.0/loa3';

// Made-up people; the numbers are the demo subjects' (valid check digits, nobody real).
const PEOPLE = {
  astrid: { given_name: 'Astrid', family_name: 'Lindqvist', [PNR]: '196408233234' },
  maria: { given_name: 'Maria', family_name: 'Andersson', [PNR]: '198503120423' },
  'maria-samordning': { given_name: 'Maria', family_name: 'Andersson', [COORDINATION]: '197010632391' },
  nils: { given_name: 'Nils', family_name: 'Nilsson', [PNR]: '195801012393' },
  // An eID that carries no personal identity number at all (a foreign eID, say).
  anonymous: { given_name: 'Utan', family_name: 'Nummer' },
};

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    clients: { type: 'string', default: '[]' },
    keys: { type: 'string' },
    'rotate-key': { type: 'boolean', default: false },
    jwks: { type: 'string', default: 'published' },
    discovery: { type: 'string', default: 'valid' },
    'id-token-ttl': { type: 'string', default: '300' },
    'id-token-audience': { type: 'string' },
    'claims-in-id-token': { type: 'boolean', default: false },
  },
});

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

async function signingKeys() {
  let keys = opts.keys && existsSync(opts.keys) ? JSON.parse(readFileSync(opts.keys, 'utf8')) : [];
  if (keys.length === 0 || opts['rotate-key']) keys = [await newSigningKey(), ...keys];
  if (opts.keys) writeFileSync(opts.keys, JSON.stringify(keys));
  return keys;
}

function publicPart({ kty, n, e, kid, alg, use }) {
  return { kty, n, e, kid, alg, use };
}

function claimsOf(accountId) {
  if (PEOPLE[accountId]) {
    const person = PEOPLE[accountId];
    return { ...person, name: `${person.given_name} ${person.family_name}` };
  }
  const unverified = accountId.startsWith('unverified:');
  const email = unverified ? accountId.slice('unverified:'.length) : accountId;
  if (email.includes('@')) return { email, email_verified: !unverified, name: email.split('@')[0] };
  return undefined;
}

const keys = await signingKeys();
const clients = JSON.parse(opts.clients).map((client) => ({
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));

const server = createServer();
await new Promise((resolve) => { server.listen(Number(opts.port), '127.0.0.1', resolve); });
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', PERSON_SCOPE],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    [PERSON_SCOPE]: [PNR, COORDINATION, 'name', 'given_name', 'family_name'],
  },
  acrValues: [LOA3],
  conformIdTokenClaims: !opts['claims-in-id-token'],
  cookies: { keys: [randomBytes(16).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 300,
    AuthorizationCode: 60,
    Grant: 3600,
    IdToken: Number(opts['id-token-ttl']),
    Interaction: 600,
    Session: 3600,
  },
  async findAccount(ctx, accountId) {
    const claims = claimsOf(accountId);
    if (!claims) return undefined;
    return { accountId, claims: async () => ({ sub: accountId, ...claims }) };
  },
  // First-party clients: what they ask for is granted without a consent page.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope(oidc.params.scope);
    await grant.save();
    return grant;
  },
});

// The faults: the real provider's responses, changed on their way out.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && opts['id-token-audience'] && ctx.body?.id_token) {
    const payload = jose.decodeJwt(ctx.body.id_token);
    ctx.body = {
      ...ctx.body,
      id_token: await new jose.SignJWT({ ...payload, aud: opts['id-token-audience'] })
        .setProtectedHeader({ alg: 'RS256', kid: keys[0].kid })
        .sign(await jose.importJWK(keys[0], 'RS256')),
    };
  }
  if (ctx.path === '/jwks' && opts.jwks !== 'published') {
    const other = publicPart(await newSigningKey());
    if (opts.jwks === 'same-kid-other-key') other.kid = keys[0].kid;
    ctx.body = { keys: [other] };
  }
  if (ctx.path === '/.well-known/openid-configuration') {
    if (opts.discovery === 'wrong-issuer') ctx.body = { ...ctx.body, issuer: 'https://idp.elsewhere.test' };
    if (opts.discovery === 'not-json') {
      ctx.type = 'html';
      ctx.body = '<!doctype html><title>Maintenance</title><p>Back soon.</p>';
    }
  }
});

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

// The sign-in page: what a broker shows before handing over to BankID or Freja eID.
async function interaction(req, res, uid, action) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (action === 'abort') {
      await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
      return;
    }
    if (action === 'login' && req.method === 'POST') {
      const login = (await readForm(req)).get('login') || '';
      if (!claimsOf(login)) {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><p>Unknown login ${escapeHtml(login)}</p>`);
        return;
      }
      await provider.interactionFinished(req, res, {
        login: { accountId: login, acr: LOA3, amr: ['bankid'] },
      }, { mergeWithLastSubmission: false });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Test-legitimering</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 2rem auto; padding: 0 1rem">
<h1>Test-legitimering</h1>
<p>Client: ${escapeHtml(details.params.client_id)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label for="login">Identitet</label>
  <input id="login" name="login" autocomplete="off" required>
  <button type="submit">Legitimera</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit">Avbryt</button>
</form>
</body></html>`);
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`interaction failed: ${error.message}`);
  }
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/.exec(new URL(req.url, issuer).pathname);
  if (match) {
    interaction(req, res, match[1], match[2]);
    return;
  }
  callback(req, res);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
