// The status line and log lines share a terminal: every log line is printed on a cleared line and the status is
// drawn again after it, so no line is glued onto the progress display. Checked by rendering what was written as a
// terminal shows it (carriage return, erase to end of line).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Terminal } from "../../lib/cli/terminal.js";
import { renderTerminal } from "../helpers/terminal-screen.js";

/** A terminal's two streams writing into one screen, in order. */
function tty() {
  let text = "";
  const stream = { isTTY: true, write: (s: string) => ((text += s), true) };
  return { stream, text: () => text };
}

describe("terminal output", () => {
  it("a log line between two status updates is printed on its own line, the status redrawn below it", () => {
    const t = tty();
    const terminal = new Terminal(t.stream, t.stream);
    terminal.status("step 1/10  loss 7.0000  ETA 1m00s");
    terminal.log("bing_bert_progress: step=1, loss=7, lr=0.0001, sample_count=8");
    terminal.status("step 2/10  loss 6.0000  ETA 0m54s");
    terminal.warn("[bert-train] a warning");
    terminal.clearStatus();
    terminal.log("done");
    assert.deepEqual(renderTerminal(t.text()), [
      "bing_bert_progress: step=1, loss=7, lr=0.0001, sample_count=8",
      "[bert-train] a warning",
      "done",
      "",
    ]);
  });
  it("a status line is cut to the terminal's width, so it never wraps", () => {
    let text = "";
    const narrow = { isTTY: true, columns: 20, write: (s: string) => ((text += s), true) };
    new Terminal(narrow, narrow).status("step 1/10  loss 7.0000  123.4 samples/s  ETA 1m00s");
    assert.equal(text, "\rstep 1/10  loss 7.0\x1b[K");
  });
  it("without a terminal there is no status line, only the log lines", () => {
    let text = "";
    const pipe = { isTTY: false, write: (s: string) => ((text += s), true) };
    const terminal = new Terminal(pipe, pipe);
    terminal.status("step 1/10");
    terminal.log("a line");
    assert.equal(text, "a line\n");
  });
});
