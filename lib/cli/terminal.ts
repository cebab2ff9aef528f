// The console of a training command: log lines on stdout, warnings on stderr, and (on a terminal) one status line
// at the bottom of stderr that is cleared before any other line is printed and drawn again after it, so a log
// line never lands glued onto the progress display.
import type { Output } from "../train/trainer.js";

/** What a status line needs from a stream: a terminal to draw on, or nothing (a file or a pipe gets no status). */
interface StatusStream {
  isTTY?: boolean;
  /** The terminal's width: a longer status line would wrap, and `\r` would then redraw only its last row. */
  columns?: number;
  write(s: string): boolean;
}

export class Terminal implements Output {
  private shown = "";

  constructor(
    private readonly out: StatusStream = process.stdout,
    private readonly err: StatusStream = process.stderr,
  ) {}

  /** Whether a status line can be shown (stderr is a terminal). */
  get interactive(): boolean {
    return this.err.isTTY === true;
  }

  log(line: string): void {
    this.above(this.out, line);
  }

  warn(line: string): void {
    this.above(this.err, line);
  }

  /** Replaces the status line (a terminal only; elsewhere it is dropped). */
  status(line: string): void {
    if (!this.interactive) return;
    const width = this.err.columns;
    this.shown = width !== undefined && width > 1 ? line.slice(0, width - 1) : line;
    this.err.write(`\r${this.shown}\x1b[K`);
  }

  /** Removes the status line, leaving the cursor at the start of an empty line. */
  clearStatus(): void {
    if (!this.shown) return;
    this.err.write("\r\x1b[K");
    this.shown = "";
  }

  private above(stream: StatusStream, line: string): void {
    const shown = this.shown;
    if (shown) this.err.write("\r\x1b[K");
    stream.write(line + "\n");
    if (shown) this.err.write(`\r${shown}\x1b[K`);
  }
}

/** The one console of this process: every command prints through it. */
export const terminal = new Terminal();
