// The bounded fuzz run of CI: every reader of outside input gets its regression cases (inputs that once failed)
// and then FUZZ_SECONDS (default 10) of mutated inputs; a foreign exception, a hang or a crash fails the test and
// the input is saved under test/fuzz/regressions/ to be committed. The seed changes daily (FUZZ_SEED overrides),
// so CI explores new cases while any failure stays reproducible from the seed printed here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { caseInput } from "./mutate.js";
import { fuzz } from "./runner.js";
import { TARGETS } from "./targets.js";

const seconds = Number(process.env.FUZZ_SECONDS ?? 10);
const runSeed = Number(process.env.FUZZ_SEED ?? Math.floor(Date.now() / 86_400_000));

describe("fuzz cases", () => {
  it("are a pure function of (run seed, index): the seeds are never written, a case rebuilds the same", () => {
    const seeds = [{ data: Buffer.from("0123456789abcdef".repeat(8)) }];
    const before = Buffer.from(seeds[0]!.data);
    const first = Array.from({ length: 200 }, (_, i) => caseInput(seeds, 1, i));
    assert.deepEqual(seeds[0]!.data, before);
    first.forEach((c, i) => assert.deepEqual(caseInput(seeds, 1, i).data, c.data, `case ${i}`));
  });
});

describe(`fuzzing every reader (${seconds} s each, seed ${runSeed})`, () => {
  for (const target of TARGETS)
    it(`${target.name}: no foreign exception, hang or crash`, { timeout: (seconds + 60) * 1000 }, async () => {
      const r = await fuzz(target.name, { seconds, runSeed });
      console.log(`${r.target}: ${r.cases} cases, ${r.rejected} rejected by the reader, ${r.failures.length} failures`);
      assert.deepEqual(
        r.failures.map((f) => `${f.kind} at case ${f.index} (saved as ${f.saved}): ${f.detail.split("\n")[0]}`),
        [],
      );
      assert.ok(r.cases > 100, `only ${r.cases} cases ran`);
    });
});
