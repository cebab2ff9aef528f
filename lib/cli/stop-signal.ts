// Ctrl-C (SIGINT) and SIGTERM during a training run: the first asks the run to finish its step and save a
// checkpoint; a second Ctrl-C says that a third aborts without one; the third ends the process at once (exit 130).
// SIGTERM (a scheduler's notice) only ever asks for the clean stop. The handlers are installed when the training
// loop begins (`listen`): before that a signal keeps its default action, since there is nothing to save yet.
import { joinedWorld } from "../parallel/world.js";
import type { Output, StopSignal } from "../train/trainer.js";

/** The exit status of a process ended by SIGINT, as a shell reports it. */
const ABORTED_BY_SIGINT = 130;

export interface InstalledStopSignal extends StopSignal {
  /** Removes the handlers (the command is over). */
  remove(): void;
}

export function stopSignal(
  out: Output,
  exit: (code: number) => never = (code) => process.exit(code),
): InstalledStopSignal {
  let interrupts = 0;
  // under mpirun every rank gets the signal; rank 0's line is enough
  const say = (line: string) => {
    if (joinedWorld()?.isRoot ?? true) out.warn(line);
  };
  const onInt = () => {
    interrupts++;
    if (interrupts === 1) {
      say("[bert-train] SIGINT: finishing the current step, then saving a checkpoint");
      signal.stop = true;
    } else if (interrupts === 2) say("[bert-train] press Ctrl-C again to abort without a checkpoint");
    else {
      say("[bert-train] aborted without a checkpoint; latest still names the last complete one");
      exit(ABORTED_BY_SIGINT);
    }
  };
  const onTerm = () => {
    if (!signal.stop) say("[bert-train] SIGTERM: finishing the current step, then saving a checkpoint");
    signal.stop = true;
  };
  const signal: InstalledStopSignal = {
    stop: false,
    listen: () => {
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
    },
    remove: () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
  return signal;
}
