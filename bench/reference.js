// Times the Node reference on Lambda events: base64 -> gunzip -> JSON.parse -> _transform
// (which builds the _bulk NDJSON body). The same work `forwarder bench` times.
//
//   node bench/reference.js ITERATIONS EVENT.json [EVENT.json ...]
//       prints one JSON line per file: {"file": ..., "events": N, "ms_per_payload": X}
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ref = require(path.resolve(__dirname, '..', '..', 'shared', 'reference', 'LogsToElasticsearch.js'));

function once(event) {
  const payload = JSON.parse(zlib.gunzipSync(Buffer.from(event.awslogs.data, 'base64')).toString('utf8'));
  return { events: payload.logEvents.length, body: ref._transform(payload) };
}

const [iterations, ...files] = process.argv.slice(2);
for (const file of files) {
  const event = JSON.parse(fs.readFileSync(file, 'utf8'));
  const warmup = Math.max(3, Math.floor(Number(iterations) / 5));
  let events = 0;
  for (let i = 0; i < warmup; i++) events = once(event).events;  // let the JIT compile the hot path
  const times = [];
  for (let i = 0; i < Number(iterations); i++) {
    const start = process.hrtime.bigint();
    once(event);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ file, events, ms_per_payload: times[Math.floor(times.length / 2)] }) + '\n');
}
