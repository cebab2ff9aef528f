// Pre-training shards for the end-to-end tests: sequence 64, dynamic masking unless overridden, from the given
// text files.
import { join } from "node:path";

import { prepareData, type PrepareOptions } from "../../lib/data/prepare.js";
import { projectRoot } from "../../lib/native/load.js";

export async function prepareTiny(
  inputs: string[],
  outputDir: string,
  numShards: number,
  overrides: Partial<PrepareOptions> = {},
): Promise<void> {
  await prepareData({
    inputs,
    outputDir,
    vocab: join(projectRoot(), "data", "bert-base-uncased-vocab.txt"),
    lowerCase: true,
    maxSeqLength: 64,
    shortSeqProb: 0.1,
    dupeFactor: 1,
    masking: "dynamic",
    maxPredictionsPerSeq: 10,
    maskedLmProb: 0.15,
    seed: 3,
    numShards,
    ...overrides,
  });
}
