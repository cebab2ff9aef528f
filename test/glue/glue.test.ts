// GLUE metrics against hand-computed values, and the task processors on the real shared files (canonical row
// counts) and on hand-made fixtures in the layouts the shared data lacks.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { accuracy, averageRanks, f1, matthewsCorrelation, pearson, spearman } from "../../lib/glue/metrics.js";
import { glueTask, GlueError, readGlueFile, taskDir } from "../../lib/glue/tasks.js";
import { projectRoot } from "../../lib/native/load.js";
import { needsShared, SHARED_DATA } from "../helpers/shared-data.js";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);
const glue = join(SHARED_DATA, "glue");
const fixtures = join(projectRoot(), "test", "fixtures", "glue");

describe("GLUE metrics", () => {
  const p = [1, 1, 0, 0, 1, 0];
  const y = [1, 0, 0, 1, 1, 0];
  it("accuracy, F1 and MCC", () => {
    close(accuracy(p, y), 4 / 6);
    close(f1(p, y), 4 / 6); // tp 2, fp 1, fn 1
    close(matthewsCorrelation(p, y), 3 / 9); // (2·2 − 1·1) / sqrt(3·3·3·3)
    close(matthewsCorrelation([1, 1, 1], [1, 0, 1]), 0); // undefined: 0
    close(f1([0, 0], [1, 1]), 0);
  });
  it("Pearson", () => {
    close(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 0.7745966692414834);
    close(pearson([1, 2, 3], [3, 2, 1]), -1);
  });
  it("Spearman with ties uses average ranks", () => {
    assert.deepEqual(averageRanks([1, 2, 2, 3]), [1, 2.5, 2.5, 4]);
    // ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]: 4.5 / sqrt(4.5 · 5)
    close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 4.5 / Math.sqrt(22.5));
    close(spearman([10, 20, 30], [1, 5, 100]), 1);
  });
});

describe("GLUE processors on the shared data", { skip: needsShared(glue, "the full GLUE files") }, () => {
  const counts: [string, "train" | "dev", string, number][] = [
    ["CoLA", "train", "train.tsv", 8551],
    ["SST-2", "dev", "dev.tsv", 872],
    ["MRPC", "train", "train.tsv", 3668],
    ["STS-B", "dev", "dev.tsv", 1500],
    ["WNLI", "train", "train.tsv", 635],
    ["QNLI", "dev", "dev.tsv", 5463],
  ];
  for (const [name, kind, file, rows] of counts)
    it(`${name} ${kind}: ${rows} rows`, () => {
      const examples = readGlueFile(glueTask(name), join(glue, name, file), kind);
      assert.equal(examples.length, rows);
      assert.ok(examples.every((e) => e.label !== undefined && e.textA.length > 0));
    });
  it("MRPC's BOM header, STS-B's float scores, test files without labels", () => {
    const mrpc = readGlueFile(glueTask("mrpc"), join(glue, "MRPC", "dev.tsv"), "dev");
    assert.ok(mrpc[0]?.textB && [0, 1].includes(mrpc[0].label as number));
    const sts = readGlueFile(glueTask("STS-B"), join(glue, "STS-B", "dev.tsv"), "dev");
    assert.equal(sts[0]?.label, 5);
    const test = readGlueFile(glueTask("sst-2"), join(glue, "SST-2", "test.tsv"), "test");
    assert.equal(test.length, 1821);
    assert.equal(test[0]?.label, undefined);
    assert.equal(test[0]?.guid, "test-0");
  });
});

describe("GLUE processors on hand-made fixtures", () => {
  it("MNLI: the gold label is the last column", () => {
    const ex = readGlueFile(glueTask("MNLI"), join(fixtures, "MNLI", "dev_matched.tsv"), "dev");
    assert.deepEqual(
      ex.map((e) => e.label),
      [2, 1, 0],
    );
    assert.equal(ex[0]?.textA, "Conceptually cream skimming has two basic dimensions.");
  });
  it("QQP and RTE", () => {
    assert.deepEqual(
      readGlueFile(glueTask("qqp"), join(fixtures, "QQP", "dev.tsv"), "dev").map((e) => e.label),
      [0, 1],
    );
    assert.deepEqual(
      readGlueFile(glueTask("rte"), join(fixtures, "RTE", "dev.tsv"), "dev").map((e) => e.label),
      [1, 0],
    );
  });
});

describe("task names and folders as DeepSpeed's and HuggingFace's scripts give them", () => {
  it("HuggingFace's spellings are the same tasks", () => {
    for (const [hf, ours] of [
      ["sst2", "SST-2"],
      ["stsb", "STS-B"],
      ["mnli", "MNLI"],
      ["cola", "CoLA"],
      ["sst_2", "SST-2"],
    ] as const)
      assert.equal(glueTask(hf).name, ours);
  });
  it("--data_dir may be the GLUE root or the task's own folder", () => {
    const root = mkdtempSync(join(tmpdir(), "bert-train-glue-root-"));
    mkdirSync(join(root, "SST-2"));
    writeFileSync(join(root, "SST-2", "train.tsv"), "sentence\tlabel\n");
    const task = glueTask("sst2");
    assert.equal(taskDir(root, task), join(root, "SST-2"));
    assert.equal(taskDir(join(root, "SST-2"), task), join(root, "SST-2"));
    assert.equal(
      taskDir(join(root, "elsewhere"), task),
      join(root, "elsewhere", "SST-2"),
      "the error names the GLUE layout",
    );
  });
});

describe("bad GLUE input", () => {
  const dir = mkdtempSync(join(tmpdir(), "bert-train-glue-"));
  it("an unknown task", () =>
    assert.throws(
      () => glueTask("SQuAD"),
      (e: unknown) => e instanceof GlueError && /unknown GLUE task "SQuAD"/.test(e.message),
    ));
  it("a missing TSV", () =>
    assert.throws(() => readGlueFile(glueTask("rte"), join(dir, "nope.tsv"), "dev"), /nope\.tsv: no such file/));
  it("a row with too few columns, named by file and line", () => {
    const f = join(dir, "short.tsv");
    writeFileSync(f, "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly one column\n");
    assert.throws(() => readGlueFile(glueTask("rte"), f, "dev"), /short\.tsv:3: 2 columns, the RTE dev layout needs 4/);
  });
  it("a label outside the task's set", () => {
    const f = join(dir, "label.tsv");
    writeFileSync(f, "sentence\tlabel\ngood\t1\nbad\t7\n");
    assert.throws(
      () => readGlueFile(glueTask("SST-2"), f, "dev"),
      /label\.tsv:3: label "7" is not one of SST-2's labels \(0, 1\)/,
    );
  });
});
