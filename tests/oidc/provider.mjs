// A certified OpenID Provider (panva/node-oidc-provider) for Bridge's sign-in tests.
//
// node provider.mjs CONFIG.json  prints one JSON line {"issuer": ...} once it listens on 127.0.0.1.
// CONFIG: {"port": 0, "clients": [...], "accounts": {id: claims}, "jwks": {"keys": [private JWK]}}
//
// Besides the provider's own endpoints, two test-only ones under /__test__/ let a test play an
// attacker on the network or an administrator at the provider:
//   POST /__test__/accounts       replace the accounts (e.g. remove someone from a group)
//   POST /__test__/next-id-token  the next token response carries this ID token instead
//   GET  /__test__/last-id-token  the last ID token the provider issued (to replay it)
import http from 'node:http';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let accounts = config.accounts;
let nextIdToken = null;
let lastIdToken = null;

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
}

const server = http.createServer();
server.listen(config.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: config.jwks,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    async findAccount(ctx, id) {
      if (!Object.hasOwn(accounts, id)) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
    },
    // First-party client: consent is implied (the provider's documented "skip consent" recipe).
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile email groups');
      grant.addOIDCClaims(['name', 'given_name', 'family_name', 'preferred_username', 'email', 'email_verified', 'groups']);
      await grant.save();
      return grant;
    },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.use(async (ctx, next) => {
    if (ctx.path === '/__test__/accounts' && ctx.method === 'POST') {
      accounts = await readJson(ctx.req);
      ctx.status = 204;
      return;
    }
    if (ctx.path === '/__test__/next-id-token' && ctx.method === 'POST') {
      nextIdToken = (await readJson(ctx.req)).id_token;
      ctx.status = 204;
      return;
    }
    if (ctx.path === '/__test__/last-id-token' && ctx.method === 'GET') {
      ctx.body = { id_token: lastIdToken };
      return;
    }
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
      if (nextIdToken) {
        ctx.body = { ...ctx.body, id_token: nextIdToken };
        nextIdToken = null;
      } else {
        lastIdToken = ctx.body.id_token;
      }
    }
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer, port }));
});
