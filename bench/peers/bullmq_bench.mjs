// bullmq_bench.mjs: the BullMQ side of bench/run.sh.
// BullMQ is installed by `npm install` in bench/peers (see run.sh); the
// version is printed in every result.
//
//   node bullmq_bench.mjs SOCK add N            W1: Queue.add, one at a time
//   node bullmq_bench.mjs SOCK add_par N C      W1p: C queues (connections)
//   node bullmq_bench.mjs SOCK addbulk N B      W1b: addBulk of B jobs
//   node bullmq_bench.mjs SOCK drain N W KIND   W2: N queued jobs, W worker
//        processes (concurrency 1 each, like jobd's worker processes);
//        KIND noop | exec (execFile /bin/true) | pyimport (the Python handler)
//   node bullmq_bench.mjs SOCK chain N L W      W2c: N noop jobs as N/L flows
//        (FlowProducer) each a chain of L (every job the only child of the
//        next: it runs after it), drained by W worker processes
//   node bullmq_bench.mjs SOCK latency N        W3: add + waitUntilFinished
//   node bullmq_bench.mjs SOCK memory N         Redis bytes per queued job
//
// SOCK is the Redis Unix socket (ioredis {path}).  One JSON line on stdout;
// exit 1 on failure.  Every loop is bounded by N and a deadline.
import { Queue, Worker, QueueEvents, FlowProducer } from 'bullmq';
import { execFile, spawn, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const VERSION = JSON.parse(readFileSync(join(here, 'node_modules/bullmq/package.json'))).version;
const PAYLOAD = { data: 'x'.repeat(189) };   // JSON.stringify: 200 bytes
const DEADLINE_MS = 900e3;
const QNAME = 'bench';
const PYHANDLER = join(here, '..', 'handlers', 'pyimport.py');

const [sock, cmd, ...rest] = process.argv.slice(2);
const args = rest.map((x) => (/^\d+$/.test(x) ? Number(x) : x));
const connection = { path: sock, maxRetriesPerRequest: null };
const now = () => Number(process.hrtime.bigint()) / 1e9;
const out = (o) => console.log(JSON.stringify({ bullmq: VERSION, ...o }));
const fail = (msg) => { console.error('bullmq_bench: ' + msg); process.exit(1); };

function processorFor(kind) {
  if (kind === 'exec') {
    return () => new Promise((res, rej) =>
      execFile('/bin/true', (err) => (err ? rej(err) : res({}))));
  }
  if (kind === 'pyimport') {
    return (job) => new Promise((res, rej) => {
      const p = spawn('/usr/bin/python3', [PYHANDLER], { stdio: ['pipe', 'pipe', 'inherit'] });
      let buf = '';
      p.stdout.on('data', (d) => { buf += d; });
      p.on('error', rej);
      p.on('close', (code) => (code === 0 ? res(JSON.parse(buf)) : rej(new Error('exit ' + code))));
      p.stdin.end(JSON.stringify({ job_id: job.id, payload: job.data }));
    });
  }
  return async () => ({});
}

async function fill(q, n) {
  for (let done = 0; done < n;) {
    const k = Math.min(1000, n - done);
    await q.addBulk(Array.from({ length: k }, () => ({ name: 'noop', data: PAYLOAD })));
    done += k;
  }
}

async function cmdAdd(n) {
  const q = new Queue(QNAME, { connection });
  await q.waitUntilReady();
  const t0 = now();
  for (let i = 0; i < n; i++) await q.add('noop', PAYLOAD);
  const secs = now() - t0;
  await q.close();
  out({ n, secs, jobs_per_s: n / secs });
}

async function cmdAddPar(n, c) {
  const qs = Array.from({ length: c }, () => new Queue(QNAME, { connection }));
  await Promise.all(qs.map((q) => q.waitUntilReady()));
  const t0 = now();
  await Promise.all(qs.map(async (q, i) => {
    const k = Math.floor(n / c) + (i < n % c ? 1 : 0);
    for (let j = 0; j < k; j++) await q.add('noop', PAYLOAD);
  }));
  const secs = now() - t0;
  await Promise.all(qs.map((q) => q.close()));
  out({ n, clients: c, secs, jobs_per_s: n / secs });
}

async function cmdAddBulk(n, b) {
  const q = new Queue(QNAME, { connection });
  await q.waitUntilReady();
  const t0 = now();
  for (let done = 0; done < n;) {
    const k = Math.min(b, n - done);
    await q.addBulk(Array.from({ length: k }, () => ({ name: 'noop', data: PAYLOAD })));
    done += k;
  }
  const secs = now() - t0;
  await q.close();
  out({ n, batch: b, secs, jobs_per_s: n / secs });
}

// A worker process: wait for "go", run, stop on "stop".
async function cmdWorkerChild(kind) {
  const w = new Worker(QNAME, processorFor(kind), { connection, concurrency: 1, autorun: false });
  await w.waitUntilReady();
  process.on('message', async (m) => {
    if (m === 'go') w.run();
    if (m === 'stop') { await w.close(); process.exit(0); }
  });
  process.send('ready');
}

function startWorkers(w, kind) {
  return Promise.all(Array.from({ length: w }, () => new Promise((res, rej) => {
    const child = fork(fileURLToPath(import.meta.url), [sock, 'worker', kind]);
    child.once('message', (m) => (m === 'ready' ? res(child) : rej(new Error(m))));
    child.once('error', rej);
  })));
}

async function stopWorkers(children) {
  await Promise.all(children.map((c) => new Promise((res) => {
    const t = setTimeout(() => { c.kill('SIGKILL'); res(); }, 10000);
    c.once('exit', () => { clearTimeout(t); res(); });
    c.send('stop');
  })));
}

async function cmdDrain(n, w, kind) {
  const q = new Queue(QNAME, { connection });
  await fill(q, n);
  const children = await startWorkers(w, kind);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = now();
  children.forEach((c) => c.send('go'));
  let counts;
  for (;;) {
    counts = await q.getJobCounts('completed', 'failed');
    if (counts.completed + counts.failed >= n) break;
    if ((now() - t0) * 1e3 > DEADLINE_MS) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const secs = now() - t0;
  await stopWorkers(children);
  await q.close();
  if (counts.completed !== n) fail(`drain: ${counts.completed} completed, ${counts.failed} failed of ${n}`);
  out({ n, workers: w, kind, secs, jobs_per_s: n / secs });
}

// A chain of l jobs as one flow: the root runs last, its only child before
// it, and so on down to the leaf, which runs first.
function chainFlow(l) {
  let node = { name: 'noop', queueName: QNAME, data: PAYLOAD };
  for (let i = 1; i < l; i++) node = { name: 'noop', queueName: QNAME, data: PAYLOAD, children: [node] };
  return node;
}

async function cmdChain(n, l, w) {
  const q = new Queue(QNAME, { connection });
  const flow = new FlowProducer({ connection });
  await q.waitUntilReady();
  for (let done = 0; done < n; done += l * 100) {
    const k = Math.min(100, Math.ceil((n - done) / l));
    await flow.addBulk(Array.from({ length: k }, () => chainFlow(l)));
  }
  const total = Math.ceil(n / l) * l;
  const children = await startWorkers(w, 'noop');
  await new Promise((r) => setTimeout(r, 300));
  const t0 = now();
  children.forEach((c) => c.send('go'));
  let counts;
  for (;;) {
    counts = await q.getJobCounts('completed', 'failed');
    if (counts.completed + counts.failed >= total) break;
    if ((now() - t0) * 1e3 > DEADLINE_MS) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const secs = now() - t0;
  await stopWorkers(children);
  await flow.close();
  await q.close();
  if (counts.completed !== total) fail(`chain: ${counts.completed} completed, ${counts.failed} failed of ${total}`);
  out({ n: total, chain: l, workers: w, secs, jobs_per_s: total / secs });
}

async function cmdLatency(n) {
  const q = new Queue(QNAME, { connection });
  const qe = new QueueEvents(QNAME, { connection });
  await q.waitUntilReady();
  await qe.waitUntilReady();
  const [child] = await startWorkers(1, 'noop');
  child.send('go');
  await new Promise((r) => setTimeout(r, 300));
  const lat = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    const job = await q.add('noop', PAYLOAD);
    await job.waitUntilFinished(qe, 30000);
    lat.push(now() - t0);
  }
  await stopWorkers([child]);
  await qe.close();
  await q.close();
  lat.sort((a, b) => a - b);
  const sum = lat.reduce((a, b) => a + b, 0);
  out({
    n, p50_ms: lat[Math.floor((n - 1) / 2)] * 1e3, p99_ms: lat[Math.floor((n - 1) * 0.99)] * 1e3,
    max_ms: lat[n - 1] * 1e3, mean_ms: (sum / n) * 1e3,
  });
}

async function usedMemory(q) {
  const info = await (await q.client).info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

async function cmdMemory(n) {
  const q = new Queue(QNAME, { connection });
  await q.waitUntilReady();
  const before = await usedMemory(q);
  await fill(q, n);
  const after = await usedMemory(q);
  await q.close();
  out({ n, bytes_per_job: (after - before) / n, payload_bytes: JSON.stringify(PAYLOAD).length });
}

const cmds = {
  add: cmdAdd, add_par: cmdAddPar, addbulk: cmdAddBulk, drain: cmdDrain, chain: cmdChain,
  latency: cmdLatency, memory: cmdMemory, worker: cmdWorkerChild,
};
if (!cmds[cmd]) fail('usage: node bullmq_bench.mjs SOCK add|add_par|addbulk|drain|chain|latency|memory ARGS');
const watchdog = setTimeout(() => fail('deadline'), DEADLINE_MS + 60e3);
watchdog.unref();
cmds[cmd](...args).then(() => { if (cmd !== 'worker') process.exit(0); }, (e) => fail(e.stack || String(e)));
