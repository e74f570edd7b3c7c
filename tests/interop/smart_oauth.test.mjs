// Drives the sandbox's SMART authorization server with openid-client, a widely used OAuth 2.0
// and OpenID Connect client from npm: backend services (client_credentials with a private_key_jwt
// client assertion), and authorization code with PKCE, an id_token the client validates, and a
// refresh. The tokens are then used on the FHIR API.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import * as jose from 'jose';
import * as oidc from 'openid-client';

import { startSandbox, tenantBaseUrl } from './sandbox.mjs';

const TENANT = 'open-lab';
const BASELINE_PATIENT_ID = 'e86izff4laD1mVsXVTNHrrl3';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

let sandbox;
let base;
let smart;

async function admin(method, path, body) {
  const response = await fetch(`${sandbox.origin}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

// openid-client's view of the server, built from the SMART discovery document.
function serverMetadata() {
  return {
    issuer: smart.issuer,
    authorization_endpoint: smart.authorization_endpoint,
    token_endpoint: smart.token_endpoint,
    jwks_uri: smart.jwks_uri,
    introspection_endpoint: smart.introspection_endpoint,
    revocation_endpoint: smart.revocation_endpoint,
    code_challenge_methods_supported: smart.code_challenge_methods_supported,
  };
}

before(async () => {
  sandbox = await startSandbox();
  base = tenantBaseUrl(sandbox.origin, TENANT);
  const discovery = await fetch(`${base}/.well-known/smart-configuration`);
  assert.equal(discovery.status, 200);
  smart = await discovery.json();
});

after(async () => {
  if (sandbox) await sandbox.stop();
});

test('backend services: a signed client assertion gets a token that reads the FHIR API', async () => {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS384', { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'interop-rs384', alg: 'RS384' };
  await admin('POST', `/admin/tenants/${TENANT}/apps`, {
    client_id: 'interop-backend',
    type: 'confidential-asymmetric',
    scopes: 'system/Patient.rs system/Observation.rs',
    jwks: { keys: [jwk] },
  });

  // SMART (and Epic) want the token URL as the assertion's audience and a kid in its header.
  const clientAuth = oidc.PrivateKeyJwt(
    { key: privateKey, kid: 'interop-rs384' },
    {
      [oidc.modifyAssertion]: (header, payload) => {
        header.alg = 'RS384';
        payload.aud = smart.token_endpoint;
      },
    },
  );
  const config = new oidc.Configuration(serverMetadata(), 'interop-backend', {}, clientAuth);
  oidc.allowInsecureRequests(config);

  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.scope, 'system/Patient.rs');
  assert.ok(tokens.expires_in > 0);

  const read = await fetch(`${base}/Patient/${BASELINE_PATIENT_ID}`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  assert.equal(read.status, 200);
  const denied = await fetch(`${base}/Observation/anything`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  assert.equal(denied.status, 403, 'system/Observation.rs was not requested');
  assert.match(denied.headers.get('www-authenticate'), /insufficient_scope/);

  const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
  assert.equal(introspection.active, true);
  assert.equal(introspection.client_id, 'interop-backend');
  await oidc.tokenRevocation(config, tokens.access_token);
  const revoked = await fetch(`${base}/Patient/${BASELINE_PATIENT_ID}`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  assert.equal(revoked.status, 401);
});

test('authorization code with PKCE, a validated id_token, and a rotating refresh', async () => {
  await admin('POST', `/admin/tenants/${TENANT}/apps`, {
    client_id: 'interop-viewer',
    type: 'public',
    scopes: 'patient/Patient.rs patient/Observation.rs',
    redirect_uris: [REDIRECT_URI],
  });
  await admin('PUT', `/admin/tenants/${TENANT}/auto-approve`, { auto_approve: true });

  const config = new oidc.Configuration(serverMetadata(), 'interop-viewer', {}, oidc.None());
  oidc.allowInsecureRequests(config);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const authorizationUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'launch/patient openid fhirUser offline_access patient/Patient.rs',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    aud: base,
  });

  const approval = await fetch(authorizationUrl, { redirect: 'manual' });
  assert.equal(approval.status, 302);
  const callback = new URL(approval.headers.get('location'));
  assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);

  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  assert.ok(tokens.id_token, 'openid fhirUser asks for an id_token');
  const claims = tokens.claims();
  assert.equal(claims.aud, 'interop-viewer');
  assert.match(claims.fhirUser, /\/Practitioner\/|^http/);
  assert.ok(tokens.refresh_token);
  assert.equal(typeof tokens.patient, 'string');

  const read = await fetch(`${base}/Patient/${tokens.patient}`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  assert.equal(read.status, 200);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (error) => {
    assert.equal(error.error, 'invalid_grant');
    return true;
  });
});
