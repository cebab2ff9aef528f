// Ctrl-C during a run: the first asks for a clean stop with a checkpoint, the second says what a third does, the
// third aborts at once with the shell's SIGINT status; SIGTERM only ever asks for the clean stop.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { stopSignal } from "../../lib/cli/stop-signal.js";

describe("stop signal", () => {
  it("one Ctrl-C stops cleanly, two warn, three abort with 130", () => {
    const lines: string[] = [];
    const exits: number[] = [];
    const signal = stopSignal({ log: (l) => lines.push(l), warn: (l) => lines.push(l) }, ((code: number) => {
      exits.push(code);
    }) as (code: number) => never);
    signal.listen?.();
    try {
      process.emit("SIGINT", "SIGINT");
      assert.equal(signal.stop, true);
      assert.match(lines[0] ?? "", /SIGINT: finishing the current step, then saving a checkpoint/);
      process.emit("SIGINT", "SIGINT");
      assert.match(lines[1] ?? "", /press Ctrl-C again to abort without a checkpoint/);
      assert.deepEqual(exits, []);
      process.emit("SIGINT", "SIGINT");
      assert.match(lines[2] ?? "", /aborted without a checkpoint/);
      assert.deepEqual(exits, [130]);
    } finally {
      signal.remove();
    }
  });
  it("SIGTERM asks for the clean stop once, however often it comes", () => {
    const lines: string[] = [];
    const never = (): never => {
      throw new Error("SIGTERM must not abort");
    };
    const signal = stopSignal({ log: (l) => lines.push(l), warn: (l) => lines.push(l) }, never);
    signal.listen?.();
    try {
      for (let i = 0; i < 3; i++) process.emit("SIGTERM", "SIGTERM");
      assert.equal(signal.stop, true);
      assert.equal(lines.length, 1);
    } finally {
      signal.remove();
    }
  });
});
