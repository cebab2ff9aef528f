// The shared development data beside the checkout (../shared, or $BERT_TRAIN_SHARED_DATA for its data folder):
// the full GLUE files and an independent TFRecord checker. A user's clone has none of it, so the tests that need
// it skip with one reason, worded the same everywhere, and docs/testing.md lists them.
import { existsSync } from "node:fs";
import { join } from "node:path";

import { projectRoot } from "../../lib/native/load.js";

export const SHARED_DATA = process.env.BERT_TRAIN_SHARED_DATA ?? join(projectRoot(), "..", "shared", "data");
export const TFRECORD_CHECKER = join(SHARED_DATA, "..", "tools", "tfrecord_check.py");

/** A `skip` option for node:test: false when `path` exists, else the reason the summary shows. */
export function needsShared(path: string, what: string): false | string {
  return existsSync(path) ? false : `skipped: needs the shared data (${what})`;
}
