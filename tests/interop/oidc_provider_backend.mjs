// Interoperability with an independent authorization server: oidc-provider (panva), a widely
// used certified OAuth 2.0 / OpenID Connect server from npm, runs on loopback with two backend
// clients registered with fhirbridge's public JWK Sets (one RS384 key, one ES384 key). The
// fhirbridge binary discovers the token endpoint from a SMART configuration document served
// beside the provider, obtains a backend-services token with `fhirbridge auth token`, and this
// script checks the token through the provider's introspection endpoint.
//
// Not named *.test.mjs on purpose: run.sh runs it as its own ctest (interop.oidc_provider).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import Provider from 'oidc-provider';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const BINARY =
  process.env.FHIRBRIDGE_BINARY ?? path.join(here, '..', '..', 'build', 'debug', 'fhirbridge');
const SCOPE = 'system/Patient.rs system/Observation.rs';
const INTROSPECTOR_SECRET = 'introspection-secret-for-tests';

let folder;
let server;
let origin;

async function fhirbridge(...args) {
  return run(BINARY, args, { timeout: 60_000 });
}

async function generateKeys(name, alg) {
  const dir = path.join(folder, name);
  await fhirbridge('keys', 'generate', '--dir', dir, '--alg', alg);
  return { dir, jwks: JSON.parse(await readFile(path.join(dir, 'jwks.json'), 'utf8')) };
}

async function introspect(token) {
  const response = await fetch(`${origin}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`introspector:${INTROSPECTOR_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }),
  });
  assert.equal(response.status, 200);
  return response.json();
}

before(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'fhirbridge-oidc-provider-'));
  const rsa = await generateKeys('rsa', 'RS384');
  const ec = await generateKeys('ec', 'ES384');

  // Listen first so that the issuer can name the port.
  server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;

  const backendClient = (client_id, alg, jwks) => ({
    client_id,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: alg,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: SCOPE,
    jwks,
  });
  const provider = new Provider(origin, {
    clients: [
      backendClient('fhirbridge-rs384', 'RS384', rsa.jwks),
      backendClient('fhirbridge-es384', 'ES384', ec.jwks),
      {
        client_id: 'introspector',
        client_secret: INTROSPECTOR_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    scopes: SCOPE.split(' '),
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
    },
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'] },
    ttl: { ClientCredentials: 300 },
  });
  provider.on('server_error', (ctx, error) => console.error('oidc-provider:', error));
  const providerCallback = provider.callback();

  // The SMART discovery document a FHIR server in front of this provider would serve.
  server.on('request', (request, response) => {
    if (request.url === '/fhir/.well-known/smart-configuration') {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          issuer: origin,
          token_endpoint: `${origin}/token`,
          grant_types_supported: ['client_credentials'],
          capabilities: ['client-confidential-asymmetric'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['private_key_jwt'],
          token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
        }),
      );
      return;
    }
    providerCallback(request, response);
  });
  server.keys = { rsa, ec };
});

after(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  if (folder) await rm(folder, { recursive: true, force: true });
});

for (const [client, keyName] of [
  ['fhirbridge-rs384', 'rsa'],
  ['fhirbridge-es384', 'ec'],
]) {
  test(`fhirbridge obtains a backend-services token from oidc-provider (${client})`, async () => {
    const { stdout } = await fhirbridge(
      'auth', 'token',
      '--fhir-base', `${origin}/fhir`,
      '--client-id', client,
      '--key-dir', server.keys[keyName].dir,
      '--scope', SCOPE,
      '--json', '--print-token',
    );
    const result = JSON.parse(stdout);
    assert.equal(result.token_endpoint, `${origin}/token`);
    assert.equal(result.discovery, 'well-known');
    assert.equal(result.token_type, 'Bearer');
    assert.ok(result.expires_in > 240 && result.expires_in <= 300, `expires_in ${result.expires_in}`);
    assert.deepEqual(result.scope.split(' ').sort(), SCOPE.split(' ').sort());

    const introspection = await introspect(result.access_token);
    assert.equal(introspection.active, true);
    assert.equal(introspection.client_id, client);
    assert.deepEqual(introspection.scope.split(' ').sort(), SCOPE.split(' ').sort());
    assert.equal(introspection.token_type, 'Bearer');
  });
}

test('a client the provider does not know is refused with invalid_client', async () => {
  await assert.rejects(
    fhirbridge(
      'auth', 'token',
      '--fhir-base', `${origin}/fhir`,
      '--client-id', 'not-registered',
      '--key-dir', server.keys.rsa.dir,
    ),
    (error) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /invalid_client/);
      return true;
    },
  );
});
