// A preload (node --require scripts/engine-trace.cjs) that logs every engine call to $ENGINE_TRACE_FILE: each
// run() with its gates, pass options and losses, each step() with its settings and outcome. Two traces of the
// same fixed-seed commands are identical exactly when a change left the arithmetic alone (scripts/refactor-check.sh).
const fs = require("fs");
const path = require("path");

const out = process.env.ENGINE_TRACE_FILE;
const addon = require(path.join(__dirname, "..", "build", "Release", "bert_train.node"));
const Base = addon.Engine;
addon.Engine = class TracedEngine extends Base {
  async run(batch, gates, pass) {
    const r = await super.run(batch, gates, pass);
    const logits = Array.from(r.classLogits.slice(0, 4)).join(",");
    fs.appendFileSync(
      out,
      `run ${JSON.stringify(gates)} ${JSON.stringify(pass)} ${r.loss} ${r.mlmLoss} ${r.nspLoss} ${logits}\n`,
    );
    return r;
  }
  async step(optimizer, settings) {
    const r = await super.step(optimizer, settings);
    fs.appendFileSync(out, `step ${JSON.stringify(settings)} ${r.overflow} ${r.gradNorm}\n`);
    return r;
  }
};
