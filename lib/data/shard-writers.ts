// The shard writers of prepare-data and convert-shards: TFRecord of tf.train.Example, or HDF5 in NVIDIA's
// layout. Each writes to a temporary name and renames into place when closed.
import { join } from "node:path";

import { shardName, type ShardFormat } from "./dataset-folder.js";
import { encodeExample, exampleFromInstance, type PretrainingInstance } from "./example.js";
import { Hdf5ShardWriter } from "./nvidia-hdf5.js";
import { TfRecordWriter } from "./tfrecord.js";

/** A shard being written: instances in, renamed into place by close(). */
export interface ShardWriter {
  readonly path: string;
  readonly count: number;
  write(instance: PretrainingInstance): void;
  close(): void;
  abort(): void;
}

/** A TFRecord shard of tf.train.Example records. */
function exampleShardWriter(path: string): ShardWriter {
  const w = new TfRecordWriter(path);
  return {
    path,
    get count() {
      return w.count;
    },
    write: (instance) => w.write(encodeExample(exampleFromInstance(instance))),
    close: () => w.close(),
    abort: () => w.abort(),
  };
}

/** `count` shard writers into `dir`, named shard_00000... (all removed again if one cannot be opened). */
export async function openShardWriters(
  dir: string,
  format: ShardFormat,
  count: number,
  shape: { seqLen: number; maxPredictions: number },
): Promise<ShardWriter[]> {
  const writers: ShardWriter[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const path = join(dir, shardName(i, format));
      writers.push(
        format === "hdf5"
          ? await Hdf5ShardWriter.create(path, shape.seqLen, shape.maxPredictions)
          : exampleShardWriter(path),
      );
    }
  } catch (err) {
    for (const w of writers) w.abort();
    throw err;
  }
  return writers;
}
