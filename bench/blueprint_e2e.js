// Runs the Node blueprint's own handler end to end (decode, transform, its hand-made SigV4,
// one POST /_bulk per payload, its reading of the answer) against a loopback OpenSearch
// stand-in. The blueprint is loaded as it is but for two edits its users make: the endpoint
// placeholder filled in, and its `_type` line dropped (OpenSearch 2.x refuses the whole
// request over it). Its https.request is pointed at the stand-in over plain HTTP with a
// keep-alive agent, as Node's https agent keeps connections alive too.
//
//   node bench/blueprint_e2e.js PORT EVENT.json [EVENT.json ...]
//       the first event warms up; prints to stderr one JSON line:
//       {"payloads": N, "cpu_ms": X, "seconds": Y} for the rest (its own log lines go to stdout)
const fs = require('fs');
const http = require('http');
const https = require('https');
const Module = require('module');
const path = require('path');

const file = path.resolve(__dirname, '..', '..', 'shared', 'reference', 'LogsToElasticsearch.js');
const [port, ...events] = process.argv.slice(2);
const source = fs
  .readFileSync(file, 'utf8')
  .replace("'<aws es endpoint>'", "'search-bench.us-east-1.es.amazonaws.com'")
  .replace('action.index._type = payload.logGroup;', '');
if (source.includes('_type =')) throw new Error('the blueprint changed: its _type line was not found');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
https.request = (params, callback) =>
  http.request({ ...params, host: '127.0.0.1', port: Number(port), agent }, callback);
const blueprint = new Module(file, module);
blueprint.filename = file;
blueprint.paths = module.paths;
blueprint._compile(source, file);

function invoke(event) {
  return new Promise((resolve, reject) =>
    blueprint.exports.handler(event, { succeed: resolve, fail: (error) => reject(new Error(error)) }));
}

(async () => {
  const inputs = events.map((name) => JSON.parse(fs.readFileSync(name, 'utf8')));
  await invoke(inputs[0]);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (const input of inputs.slice(1)) await invoke(input);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  process.stderr.write(
    JSON.stringify({ payloads: inputs.length - 1, cpu_ms: (used.user + used.system) / 1000, seconds }) + '\n');
  agent.destroy();
})().catch((error) => {
  process.stderr.write(`blueprint_e2e: ${error.message.slice(0, 300)}\n`);
  process.exit(1);
});
