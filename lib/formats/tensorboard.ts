// TensorBoard event files: a TFRecord file of `tensorflow.Event` protos, the first carrying the file version, the
// rest scalar summaries. Written with protobufjs and our TFRecord framing; TensorBoard reads them as they are.
import { closeSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

import protobuf from "protobufjs";

import { encodeTfRecord } from "../data/tfrecord.js";

const root = protobuf.Root.fromJSON({
  nested: {
    tensorflow: {
      nested: {
        SummaryValue: { fields: { tag: { type: "string", id: 1 }, simpleValue: { type: "float", id: 2 } } },
        Summary: { fields: { value: { rule: "repeated", type: "SummaryValue", id: 1 } } },
        // status 1 is START: TensorBoard then drops the events of earlier files at this step and after
        SessionLog: { fields: { status: { type: "int32", id: 1 } } },
        Event: {
          fields: {
            wallTime: { type: "double", id: 1 },
            step: { type: "int64", id: 2 },
            fileVersion: { type: "string", id: 3 },
            summary: { type: "Summary", id: 5 },
            sessionLog: { type: "SessionLog", id: 7 },
          },
        },
      },
    },
  },
});
const EventType = root.lookupType("tensorflow.Event");

const SESSION_START = 1;

export function decodeEvent(data: Uint8Array): {
  wallTime: number;
  step: number;
  fileVersion?: string;
  /** A restart marker: events of earlier files from this step on are superseded. */
  sessionStart?: boolean;
  values: { tag: string; value: number }[];
} {
  const e = EventType.toObject(EventType.decode(data), { longs: Number, defaults: true }) as {
    wallTime: number;
    step: number;
    fileVersion: string;
    summary?: { value: { tag: string; simpleValue: number }[] };
    sessionLog?: { status: number };
  };
  return {
    wallTime: e.wallTime,
    step: e.step,
    fileVersion: e.fileVersion || undefined,
    sessionStart: e.sessionLog?.status === SESSION_START || undefined,
    values: (e.summary?.value ?? []).map((v) => ({ tag: v.tag, value: v.simpleValue })),
  };
}

export class TensorBoardWriter {
  readonly path: string;
  private readonly fd: number;

  /** `resumedAt`: a resumed run's first step is after it; TensorBoard hides what earlier files logged past it. */
  constructor(dir: string, resumedAt?: number) {
    this.path = join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}.${process.pid}`);
    this.fd = openSync(this.path, "a");
    this.write({ wallTime: Date.now() / 1000, step: 0, fileVersion: "brain.Event:2" });
    if (resumedAt !== undefined)
      this.write({ wallTime: Date.now() / 1000, step: resumedAt + 1, sessionLog: { status: SESSION_START } });
  }

  private write(event: Record<string, unknown>): void {
    writeSync(this.fd, encodeTfRecord(EventType.encode(EventType.fromObject(event)).finish()));
  }

  scalars(step: number, values: Record<string, number>): void {
    // a non-finite value (the gradient norm of an overflowed step) is written as it is
    const value = Object.entries(values).map(([tag, v]) => ({ tag, simpleValue: v }));
    this.write({ wallTime: Date.now() / 1000, step, summary: { value } });
  }

  close(): void {
    closeSync(this.fd);
  }
}
