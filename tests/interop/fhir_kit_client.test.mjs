// Drives the sandbox's open-lab tenant with fhir-kit-client, an independent FHIR client from npm,
// to show that a client written without knowledge of fhirbridge can use its REST interactions.
// Each test works on resources it creates itself, so the tests do not depend on one another.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import { Client } from 'fhir-kit-client';

import { startSandbox, tenantBaseUrl } from './sandbox.mjs';

const TENANT = 'open-lab';
const BASELINE_PATIENT_ID = 'e86izff4laD1mVsXVTNHrrl3';
const EPIC_MRN_SYSTEM = 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0';
const TEST_IDENTIFIER_SYSTEM = 'urn:fhirbridge:interop-test';

let sandbox;
let client;

before(async () => {
  sandbox = await startSandbox();
  client = new Client({ baseUrl: tenantBaseUrl(sandbox.origin, TENANT) });
});

after(async () => {
  if (sandbox) await sandbox.stop();
});

// The HTTP status and headers behind a resource returned by fhir-kit-client.
function responseOf(resource) {
  const { response } = Client.httpFor(resource);
  assert.ok(response, 'fhir-kit-client should attach the HTTP response to what it returns');
  return response;
}

// Asserts that a client call fails with the given HTTP status and an OperationOutcome body;
// returns that OperationOutcome so the caller can check its issues.
async function expectFailure(call, status) {
  let outcome;
  await assert.rejects(call, (error) => {
    assert.equal(error.response?.status, status, `expected HTTP ${status}: ${error.message}`);
    assert.equal(error.response.data.resourceType, 'OperationOutcome');
    outcome = error.response.data;
    return true;
  });
  return outcome;
}

function patientNamed(family, extra = {}) {
  return { resourceType: 'Patient', name: [{ family, given: ['Interop'] }], ...extra };
}

async function createPatient(family) {
  return client.create({ resourceType: 'Patient', body: patientNamed(family) });
}

test('read returns the baseline patient with its Epic MRN', async () => {
  const patient = await client.read({ resourceType: 'Patient', id: BASELINE_PATIENT_ID });

  assert.equal(patient.resourceType, 'Patient');
  assert.equal(patient.id, BASELINE_PATIENT_ID);
  const mrn = patient.identifier.find((identifier) => identifier.system === EPIC_MRN_SYSTEM);
  assert.equal(mrn?.value, '900001');
});

test('create answers 201 with Location and ETag, and read and vread return the stored resource',
  async () => {
    const family = `Create-${randomUUID()}`;
    const created = await createPatient(family);

    const response = responseOf(created);
    assert.equal(response.status, 201);
    assert.match(created.id, /^[A-Za-z0-9\-.]{1,64}$/);
    assert.equal(created.meta.versionId, '1');
    assert.equal(response.headers.get('etag'), 'W/"1"');
    assert.ok(
      response.headers.get('location').endsWith(`/Patient/${created.id}/_history/1`),
      `unexpected Location ${response.headers.get('location')}`,
    );

    const read = await client.read({ resourceType: 'Patient', id: created.id });
    assert.equal(read.id, created.id);
    assert.equal(read.meta.versionId, '1');
    assert.equal(read.name[0].family, family);
    assert.equal(responseOf(read).headers.get('etag'), 'W/"1"');

    const version = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' });
    assert.equal(version.id, created.id);
    assert.equal(version.meta.versionId, '1');
    assert.deepEqual(version.name, read.name);
  });

test('update with the current If-Match succeeds and a stale If-Match is rejected with 412',
  async () => {
    const created = await createPatient('Versioned');

    const updated = await client.update({
      resourceType: 'Patient',
      id: created.id,
      body: patientNamed('Versioned-2', { id: created.id }),
      options: { headers: { 'If-Match': 'W/"1"' } },
    });
    assert.equal(responseOf(updated).status, 200);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(responseOf(updated).headers.get('etag'), 'W/"2"');

    // A second writer that still holds version 1 must not overwrite version 2.
    const outcome = await expectFailure(
      client.update({
        resourceType: 'Patient',
        id: created.id,
        body: patientNamed('Lost-Update', { id: created.id }),
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
      412,
    );
    assert.equal(outcome.issue[0].severity, 'error');
    assert.equal(outcome.issue[0].code, 'conflict');

    const current = await client.read({ resourceType: 'Patient', id: created.id });
    assert.equal(current.meta.versionId, '2');
    assert.equal(current.name[0].family, 'Versioned-2');
  });

test('conditional create answers 201 first, then 200 with the same resource and creates nothing',
  async () => {
    const value = randomUUID();
    const condition = `identifier=${TEST_IDENTIFIER_SYSTEM}|${value}`;
    const options = { headers: { 'If-None-Exist': condition } };
    const body = patientNamed('Conditional', {
      identifier: [{ system: TEST_IDENTIFIER_SYSTEM, value }],
    });

    const first = await client.create({ resourceType: 'Patient', body, options });
    assert.equal(responseOf(first).status, 201);
    assert.equal(first.identifier[0].value, value);

    const patientsBefore = await client.typeHistory({ resourceType: 'Patient' });
    const second = await client.create({ resourceType: 'Patient', body, options });
    const patientsAfter = await client.typeHistory({ resourceType: 'Patient' });

    assert.equal(responseOf(second).status, 200);
    assert.equal(second.id, first.id);
    assert.equal(second.meta.versionId, '1');
    assert.equal(patientsAfter.total, patientsBefore.total, 'no Patient version may be added');

    const history = await client.resourceHistory({ resourceType: 'Patient', id: first.id });
    assert.equal(history.total, 1);
  });

test('instance history lists every version newest first', async () => {
  const created = await createPatient('History-1');
  for (const version of [2, 3, 4]) {
    await client.update({
      resourceType: 'Patient',
      id: created.id,
      body: patientNamed(`History-${version}`, { id: created.id }),
      options: { headers: { 'If-Match': `W/"${version - 1}"` } },
    });
  }

  const history = await client.history({ resourceType: 'Patient', id: created.id });

  assert.equal(history.resourceType, 'Bundle');
  assert.equal(history.type, 'history');
  assert.equal(history.total, 4);
  assert.deepEqual(
    history.entry.map((entry) => entry.resource.meta.versionId),
    ['4', '3', '2', '1'],
  );
  assert.deepEqual(
    history.entry.map((entry) => entry.resource.name[0].family),
    ['History-4', 'History-3', 'History-2', 'History-1'],
  );
  assert.deepEqual(
    history.entry.map((entry) => entry.request.method),
    ['PUT', 'PUT', 'PUT', 'POST'],
  );
  for (const entry of history.entry) {
    assert.equal(entry.resource.id, created.id);
    assert.equal(entry.response.etag, `W/"${entry.resource.meta.versionId}"`);
  }
});

test('delete answers 200 and a later read answers 410 Gone', async () => {
  const created = await createPatient('Deleted');

  const deleted = await client.delete({ resourceType: 'Patient', id: created.id });
  assert.equal(responseOf(deleted).status, 200);
  assert.equal(deleted.resourceType, 'OperationOutcome');

  const outcome = await expectFailure(
    client.read({ resourceType: 'Patient', id: created.id }),
    410,
  );
  assert.equal(outcome.issue[0].code, 'deleted');

  // The versions written before the delete stay readable.
  const version = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' });
  assert.equal(version.name[0].family, 'Deleted');
});

test('transaction resolves urn:uuid references to the ids the server assigns', async () => {
  const patientUrn = `urn:uuid:${randomUUID()}`;
  const observationUrn = `urn:uuid:${randomUUID()}`;
  const family = `Transaction-${randomUUID()}`;
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: patientUrn,
        resource: patientNamed(family),
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: observationUrn,
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate' },
          subject: { reference: patientUrn },
          valueQuantity: { value: 72, unit: 'beats/minute', system: 'http://unitsofmeasure.org',
            code: '/min' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };

  const result = await client.transaction({ body: bundle });

  assert.equal(responseOf(result).status, 200);
  assert.equal(result.resourceType, 'Bundle');
  assert.equal(result.type, 'transaction-response');
  assert.equal(result.entry.length, 2);
  for (const entry of result.entry) {
    assert.match(entry.response.status, /^201\b/);
  }

  // Responses come back in request order, so entry 0 is the patient and entry 1 the observation.
  const patientId = result.entry[0].response.location.match(/\/Patient\/([^/]+)\/_history\//)[1];
  const observationId =
    result.entry[1].response.location.match(/\/Observation\/([^/]+)\/_history\//)[1];

  const patient = await client.read({ resourceType: 'Patient', id: patientId });
  assert.equal(patient.name[0].family, family);

  const observation = await client.read({ resourceType: 'Observation', id: observationId });
  assert.equal(observation.subject.reference, `Patient/${patientId}`);
  assert.equal(observation.valueQuantity.value, 72);
});

test('search pages through more than a thousand results with nextPage, each id exactly once',
  async () => {
    const resultCount = 1001;
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const observationEntries = Array.from({ length: resultCount }, (_, index) => ({
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource: {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{
          system: 'http://terminology.hl7.org/CodeSystem/observation-category',
          code: 'vital-signs',
        }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: patientUrn },
        valueQuantity: { value: 60 + (index % 40), unit: '/min' },
      },
      request: { method: 'POST', url: 'Observation' },
    }));
    const created = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: patientUrn, resource: patientNamed(`Paging-${randomUUID()}`),
            request: { method: 'POST', url: 'Patient' } },
          ...observationEntries,
        ],
      },
    });
    const patientId = created.entry[0].response.location.match(/\/Patient\/([^/]+)\//)[1];
    const createdIds = new Set(created.entry.slice(1).map(
      (entry) => entry.response.location.match(/\/Observation\/([^/]+)\//)[1]));
    assert.equal(createdIds.size, resultCount);

    const seen = new Map();
    let pages = 0;
    let bundle = await client.search({
      resourceType: 'Observation',
      searchParams: { patient: patientId, category: 'vital-signs', _count: 100 },
    });
    assert.equal(bundle.type, 'searchset');
    assert.equal(bundle.total, resultCount);
    while (bundle) {
      pages += 1;
      for (const entry of bundle.entry ?? []) {
        assert.equal(entry.search.mode, 'match');
        seen.set(entry.resource.id, (seen.get(entry.resource.id) ?? 0) + 1);
      }
      bundle = await client.nextPage({ bundle });
    }

    assert.equal(pages, Math.ceil(resultCount / 100));
    assert.equal(seen.size, resultCount);
    for (const [id, times] of seen) {
      assert.equal(times, 1, `${id} was returned ${times} times`);
      assert.ok(createdIds.has(id), `${id} is not one of the observations created`);
    }
  });

test('POST _search with a form body finds what GET finds', async () => {
  const family = `PostSearch-${randomUUID()}`;
  const created = await createPatient(family);

  const bundle = await client.search({
    resourceType: 'Patient',
    searchParams: { family },
    options: { postSearch: true },
  });

  assert.equal(responseOf(bundle).status, 200);
  assert.equal(bundle.total, 1);
  assert.equal(bundle.entry[0].resource.id, created.id);
});
