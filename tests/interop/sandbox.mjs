// Starts the fhirbridge sandbox on a free loopback port for interoperability tests and stops it
// the way an operator would, so every test talks to a real server rather than a mock.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_BINARY = resolve(REPOSITORY_ROOT, 'build', 'debug', 'fhirbridge');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const SERVING_LINE =
  /^fhirbridge sandbox is serving \d+ tenants at (http:\/\/127\.0\.0\.1:(\d+))\s*$/m;
const STOPPED_LINE = 'fhirbridge sandbox stopped.';

// The binary under test: FHIRBRIDGE_BINARY when set, otherwise the debug build of this checkout.
export function sandboxBinary() {
  return process.env.FHIRBRIDGE_BINARY || DEFAULT_BINARY;
}

// The FHIR R4 base URL of one tenant, e.g. http://127.0.0.1:PORT/open-lab/api/FHIR/R4.
export function tenantBaseUrl(origin, tenant) {
  return `${origin}/${tenant}/api/FHIR/R4`;
}

function describeOutput(stdout, stderr) {
  return `--- stdout ---\n${stdout || '(empty)'}\n--- stderr ---\n${stderr || '(empty)'}`;
}

// Spawns `fhirbridge sandbox serve --port 0` and resolves once it prints its serving line.
// Resolves to { origin, port, stop }, where stop() sends SIGTERM and rejects unless the server
// exits with status 0 after announcing that it stopped. Rejects with the server's output when
// the binary is missing, exits early, or does not start serving within 20 seconds.
export async function startSandbox({ binary = sandboxBinary() } = {}) {
  if (!existsSync(binary)) {
    throw new Error(
      `fhirbridge binary not found at ${binary}; build it with ` +
        '`cmake --build --preset debug` or point FHIRBRIDGE_BINARY at it.',
    );
  }

  const child = spawn(binary, ['sandbox', 'serve', '--port', '0', '--log-level', 'warning'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });

  const exited = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });

  // A test runner that dies mid-run must not leave a server holding a port behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let origin;
  let port;
  try {
    ({ origin, port } = await new Promise((resolveStart, rejectStart) => {
      const timer = setTimeout(() => {
        rejectStart(
          new Error(
            `fhirbridge sandbox did not print its serving line within ${START_TIMEOUT_MS} ms.\n` +
              describeOutput(stdout, stderr),
          ),
        );
      }, START_TIMEOUT_MS);

      child.once('error', (error) => {
        clearTimeout(timer);
        rejectStart(new Error(`could not start ${binary}: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        rejectStart(
          new Error(
            `fhirbridge sandbox exited before serving (code ${code}, signal ${signal}).\n` +
              describeOutput(stdout, stderr),
          ),
        );
      });
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        const match = SERVING_LINE.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolveStart({ origin: match[1], port: Number(match[2]) });
        }
      });
    }));
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    throw error;
  }

  async function stop() {
    child.kill('SIGTERM');
    let timer;
    const timedOut = new Promise((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout(null), STOP_TIMEOUT_MS);
    });
    const outcome = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);

    if (outcome === null) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(
        `fhirbridge sandbox ignored SIGTERM for ${STOP_TIMEOUT_MS} ms and was killed.\n` +
          describeOutput(stdout, stderr),
      );
    }
    if (outcome.code !== 0 || !stdout.includes(STOPPED_LINE)) {
      throw new Error(
        `fhirbridge sandbox did not stop cleanly on SIGTERM ` +
          `(code ${outcome.code}, signal ${outcome.signal}).\n` +
          describeOutput(stdout, stderr),
      );
    }
  }

  return { origin, port, stop };
}
