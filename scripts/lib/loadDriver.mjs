// A closed-loop HTTP load generator on undici, run in a worker thread so that the client's own
// work does not share the event loop of the backend it measures. Each of `connections` clients
// sends one request, waits for the answer, and sends the next, until `requests` were sent or
// `durationMs` passed; latencies are reported per request.
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

async function run({ url, headers, connections, requests, durationMs }) {
  const { origin, pathname, search } = new URL(url);
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const latencies = [];
  const statuses = {};
  let sent = 0;
  let bytes = 0;
  const started = performance.now();
  const deadline = durationMs ? started + durationMs : Infinity;
  const client = async () => {
    while (sent < (requests ?? Infinity) && performance.now() < deadline) {
      sent += 1;
      const t0 = performance.now();
      try {
        const response = await pool.request({
          method: 'GET',
          path: `${pathname}${search}`,
          headers,
        });
        const body = await response.body.arrayBuffer();
        bytes += body.byteLength;
        statuses[response.statusCode] =
          (statuses[response.statusCode] ?? 0) + 1;
      } catch (error) {
        statuses[error.code ?? 'error'] =
          (statuses[error.code ?? 'error'] ?? 0) + 1;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  const elapsedMs = performance.now() - started;
  await pool.close();
  return { latencies, statuses, elapsedMs, bytes };
}

run(workerData).then(
  result => parentPort.postMessage({ result }),
  error => parentPort.postMessage({ error: String(error?.stack ?? error) }),
);
