// `fhirbridge auth login` end to end against the sandbox: the binary prints the authorize URL,
// this script plays the user's browser (sandbox login form, patient picker, redirect back to the
// binary's loopback listener), and the binary exchanges the code and reports what was granted.
// Standalone launch with a public client, and EHR launch with the launch value from the EHR.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { sandboxBinary, startSandbox, tenantBaseUrl } from './sandbox.mjs';

const TENANT = 'open-lab';
const PATIENT_ID = 'eygGzVjJLQB0.8WMY5leCJS3';

let sandbox;
let base;

async function admin(method, path, body) {
  const response = await fetch(`${sandbox.origin}/admin/tenants/${TENANT}/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

// A loopback port that is free now (the listener must match the registered redirect URI).
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Runs `fhirbridge auth login ...`; resolves with the authorize URL as soon as it is printed,
// and with the exit status and output once the process ends.
function startLogin(args) {
  const child = spawn(sandboxBinary(), ['auth', 'login', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  const authorizeUrl = new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const found = stderr.match(/^\s+(http\S+\/oauth2\/authorize\?\S+)$/m);
      if (found) resolve(found[1]);
    });
    child.once('exit', () => reject(new Error(`login exited early:\n${stderr}`)));
  });
  const finished = new Promise((resolve) => {
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
  return { authorizeUrl, finished };
}

// The user's browser: sign in, pick the patient if asked, and follow the redirect home.
async function completeInBrowser(authorizeUrl, patient) {
  const loginPage = await (await fetch(authorizeUrl)).text();
  const transaction = loginPage.match(/name="transaction" value="([^"]+)"/)[1];
  const formUrl = new URL('authorize', authorizeUrl).toString();
  const post = (fields) =>
    fetch(formUrl, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ transaction, ...fields }),
    });
  let answer = await post({ username: 'clinician', password: 'sandbox' });
  if (answer.status === 200) {
    assert.match(await answer.text(), /Choose a patient/);
    answer = await post({ patient });
  }
  assert.equal(answer.status, 302);
  const landing = await fetch(answer.headers.get('location'));
  assert.equal(landing.status, 200);
  assert.match(await landing.text(), /You can close this window/);
}

before(async () => {
  sandbox = await startSandbox();
  base = tenantBaseUrl(sandbox.origin, TENANT);
});

after(async () => {
  if (sandbox) await sandbox.stop();
});

test('auth login: standalone launch with a public client and PKCE', async () => {
  const port = await freePort();
  await admin('POST', 'apps', {
    client_id: 'cli-standalone',
    type: 'public',
    scopes: 'patient/Patient.rs patient/Observation.rs',
    redirect_uris: [`http://127.0.0.1:${port}/callback`],
  });
  const login = startLogin([
    '--fhir-base', base, '--client-id', 'cli-standalone', '--port', String(port),
    '--scope', 'launch/patient openid fhirUser offline_access patient/Patient.rs', '--json',
    '--timeout', '60',
  ]);
  const url = new URL(await login.authorizeUrl);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('aud'), base);
  assert.ok(url.searchParams.get('state').length >= 43);
  await completeInBrowser(url.toString(), PATIENT_ID);

  const { code, stdout, stderr } = await login.finished;
  assert.equal(code, 0, stderr);
  const granted = JSON.parse(stdout);
  assert.equal(granted.patient, PATIENT_ID);
  assert.equal(granted.refresh_token_issued, true);
  assert.equal(granted.id_token_issued, true);
  assert.match(granted.scope, /patient\/Patient\.rs/);
  assert.equal(granted.access_token, undefined, 'tokens are printed only with --print-token');
});

test('auth login --launch: EHR launch carries the chart the EHR opened', async () => {
  const port = await freePort();
  await admin('POST', 'apps', {
    client_id: 'cli-ehr',
    type: 'public',
    scopes: 'patient/Patient.rs',
    redirect_uris: [`http://127.0.0.1:${port}/callback`],
  });
  const { iss, launch } = await admin('POST', 'launch', { patient: PATIENT_ID });
  const login = startLogin([
    '--fhir-base', iss, '--client-id', 'cli-ehr', '--port', String(port), '--launch', launch,
    '--scope', 'launch openid fhirUser patient/Patient.rs', '--json', '--print-token', '--timeout', '60',
  ]);
  const url = new URL(await login.authorizeUrl);
  assert.equal(url.searchParams.get('launch'), launch);
  await completeInBrowser(url.toString(), '');

  const { code, stdout, stderr } = await login.finished;
  assert.equal(code, 0, stderr);
  const granted = JSON.parse(stdout);
  assert.equal(granted.patient, PATIENT_ID);
  const read = await fetch(`${base}/Patient/${PATIENT_ID}`, {
    headers: { authorization: `Bearer ${granted.access_token}` },
  });
  assert.equal(read.status, 200);
});
