// Reads HL7's FHIR R4 SearchParameter Bundle and prints the compact extract the sandbox embeds
// (data/fhir/search-parameters-r4.json): one parameter per line, sorted by url, so that a
// regeneration shows up in a diff as the lines that changed.
//
// Usage: node extract-search-parameters.mjs BUNDLE.json SOURCE-DESCRIPTION > OUTPUT.json

import { readFileSync } from 'node:fs';

const HL7_PREFIX = 'http://hl7.org/fhir/SearchParameter/';

const [bundlePath, sourceDescription] = process.argv.slice(2);
if (!bundlePath || !sourceDescription) {
  console.error('usage: node extract-search-parameters.mjs BUNDLE.json SOURCE-DESCRIPTION');
  process.exit(2);
}

const bundle = JSON.parse(readFileSync(bundlePath, 'utf8'));
if (bundle.resourceType !== 'Bundle' || !Array.isArray(bundle.entry)) {
  console.error(`${bundlePath} is not a FHIR Bundle`);
  process.exit(1);
}

const parameters = bundle.entry
  .map((entry) => entry.resource)
  .filter((resource) => resource?.resourceType === 'SearchParameter')
  .filter((resource) => typeof resource.url === 'string' && resource.url.startsWith(HL7_PREFIX))
  .map((resource) => {
    // Key order is fixed so that the output is stable.
    const compact = {
      url: resource.url,
      code: resource.code,
      base: resource.base,
      type: resource.type,
    };
    if (resource.expression) compact.expression = resource.expression;
    if (resource.target?.length) compact.target = resource.target;
    return compact;
  })
  .sort((left, right) => (left.url < right.url ? -1 : left.url > right.url ? 1 : 0));

if (parameters.length === 0) {
  console.error(`${bundlePath} holds no HL7 SearchParameter`);
  process.exit(1);
}

const lines = parameters.map((parameter) => `    ${JSON.stringify(parameter)}`);
process.stdout.write(
  '{\n' +
    `  "source": ${JSON.stringify(`${sourceDescription}: dist/fhir/r4/search-parameters.json`)},\n` +
    `  "fhirVersion": "4.0.1",\n` +
    '  "parameters": [\n' +
    `${lines.join(',\n')}\n` +
    '  ]\n' +
    '}\n',
);
