// The `pretrain` arguments of the tests' tiny runs: tiny_cf.json (4 layers, hidden 32, sequence 64) over a corpus
// prepared under `dataRoot/tiny/64`, job "tiny", one thread; a test adds or overrides flags through `extra` (a
// flag given twice takes its last value).
import { join, resolve } from "node:path";

import { projectRoot } from "../../lib/native/load.js";

export const FIXTURE_CONFIGS = join(projectRoot(), "test", "fixtures", "configs");

export function tinyPretrainArgs(o: {
  out: string;
  dataRoot: string;
  /** A fixture config name, or an absolute path. */
  ds: string;
  pld: boolean;
  extra: string[];
}): string[] {
  return [
    "pretrain",
    "--cf",
    join(FIXTURE_CONFIGS, "tiny_cf.json"),
    "--deepspeed",
    "--deepspeed_config",
    resolve(FIXTURE_CONFIGS, o.ds),
    "--max_seq_length",
    "64",
    "--max_predictions_per_seq",
    "10",
    "--output_dir",
    o.out,
    "--job_name",
    "tiny",
    "--data_path_prefix",
    o.dataRoot,
    "--threads",
    "1",
    ...(o.pld ? ["--progressive_layer_drop"] : []),
    ...o.extra,
  ];
}
