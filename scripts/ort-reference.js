#!/usr/bin/env node
// Runs ONNX Runtime (npm onnxruntime-node, CPU) over narrate's test voice to
// make reference outputs. Called by scripts/make-test-voice.py --refs:
//
//   NODE_PATH=tests/data/voice/node_modules node scripts/ort-reference.js jobs.json
//
// jobs.json: {"model": path, "debug_model": path (model + the Ceil node's
// input and output as extra outputs), "cases": [{"dir", "input" (flat ids),
// "shape" [B,T], "input_lengths", "scales", "sid" (multi-speaker voices)}]}. For each case writes
// DIR/ort.json: {"output": flat floats, "shape", "frames" (per item: sum of
// the Ceil output), "margin" (smallest distance of a pre-Ceil duration of a
// real symbol to an integer)}.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const opts = {intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu']};
  const model = await ort.InferenceSession.create(jobs.model, opts);
  const debug = await ort.InferenceSession.create(jobs.debug_model, opts);
  const [wName, ceilName] = debug.outputNames.slice(1);
  for (const c of jobs.cases) {
    const feeds = {
      input: new ort.Tensor('int64', BigInt64Array.from(c.input.map(BigInt)), c.shape),
      input_lengths: new ort.Tensor('int64', BigInt64Array.from(c.input_lengths.map(BigInt)),
                                    [c.input_lengths.length]),
      scales: new ort.Tensor('float32', Float32Array.from(c.scales), [3]),
    };
    if (c.sid) {
      feeds.sid = new ort.Tensor('int64', BigInt64Array.from(c.sid.map(BigInt)), [c.sid.length]);
    }
    const out = (await model.run(feeds)).output;
    const dbg = await debug.run(feeds);
    const w = dbg[wName].data, d = dbg[ceilName].data;
    const [batch, t] = c.shape;
    const frames = [];
    let margin = 1;
    for (let b = 0; b < batch; b++) {
      let sum = 0;
      for (let i = 0; i < t; i++) {
        sum += d[b * t + i];
        if (i < c.input_lengths[b]) {
          margin = Math.min(margin, Math.abs(w[b * t + i] - Math.round(w[b * t + i])));
        }
      }
      frames.push(sum);
    }
    fs.writeFileSync(path.join(c.dir, 'ort.json'), JSON.stringify({
      output: Array.from(out.data), shape: out.dims, frames: frames, margin: margin,
    }));
  }
}

main().catch((e) => {
  console.error('ort-reference: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
