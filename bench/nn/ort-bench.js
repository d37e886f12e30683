#!/usr/bin/env node
// Times ONNX Runtime (npm onnxruntime-node, CPU) on a Piper-style voice with
// the same inputs as bench_nn.c, for bench/nn/run.sh:
//
//   NODE_PATH=tests/data/voice/node_modules node bench/nn/ort-bench.js MODEL THREADS BATCH [PHONEMES [REPEATS]]
//   node bench/nn/ort-bench.js --baseline    (RSS of node + onnxruntime without a session)
//
// Prints one JSON line like narrate-bench-nn.
'use strict';
const ort = require('onnxruntime-node');

function median(a) {
  const s = a.slice().sort((x, y) => x - y);
  return s[Math.floor((s.length - 1) / 2)];
}

async function main() {
  if (process.argv[2] === '--baseline') {
    console.log(JSON.stringify({engine: 'node-baseline', max_rss_kb: process.resourceUsage().maxRSS}));
    return;
  }
  const [model, threadsArg, batchArg, phArg, repArg] = process.argv.slice(2);
  const threads = parseInt(threadsArg, 10), batch = parseInt(batchArg, 10);
  const phonemes = phArg ? parseInt(phArg, 10) : 40, repeats = repArg ? parseInt(repArg, 10) : 5;
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const lens = [];
  for (let b = 0; b < batch; b++) {
    const p = batch === 1 ? phonemes : phonemes - 4 + 4 * (b % 3);
    lens.push(2 * p + 2);
  }
  const tmax = Math.max(...lens);
  const ids = new BigInt64Array(batch * tmax);
  for (let b = 0; b < batch; b++) {
    const p = (lens[b] - 2) / 2;
    ids[b * tmax] = 1n;
    for (let k = 0; k < p; k++) {
      ids[b * tmax + 1 + 2 * k] = BigInt(14 + (k * 7 + b * 11) % 60);
      ids[b * tmax + 2 + 2 * k] = 0n;
    }
    ids[b * tmax + lens[b] - 1] = 2n;
  }
  const feeds = {
    input: new ort.Tensor('int64', ids, [batch, tmax]),
    input_lengths: new ort.Tensor('int64', BigInt64Array.from(lens.map(BigInt)), [batch]),
    scales: new ort.Tensor('float32', Float32Array.from([0.667, 1.0, 0.0]), [3]),
  };
  const times = [];
  let samples = 0;
  for (let r = 0; r <= repeats; r++) {
    const s = process.hrtime.bigint();
    const out = (await session.run(feeds)).output;
    const dt = Number(process.hrtime.bigint() - s) / 1e9;
    if (r > 0) times.push(dt);
    samples = out.data.length;
  }
  console.log(JSON.stringify({
    engine: 'onnxruntime', threads: threads, batch: batch, median_s: median(times),
    best_s: Math.min(...times), audio_s: samples / 22050, samples: samples, load_s: loadS,
    max_rss_kb: process.resourceUsage().maxRSS,
  }));
}

main().catch((e) => {
  console.error('ort-bench: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
