// tf.train.Example, the record format of Google BERT's pre-training shards, encoded and decoded with protobufjs.
// The message definitions follow TensorFlow's example.proto / feature.proto (field numbers are the wire format).
import protobuf from "protobufjs";

// `keyType` (a proto map) is valid protobuf JSON that protobufjs's INamespace type does not spell out
const root = protobuf.Root.fromJSON({
  nested: {
    tensorflow: {
      nested: {
        BytesList: { fields: { value: { rule: "repeated", type: "bytes", id: 1 } } },
        FloatList: { fields: { value: { rule: "repeated", type: "float", id: 1, options: { packed: true } } } },
        Int64List: { fields: { value: { rule: "repeated", type: "int64", id: 1, options: { packed: true } } } },
        Feature: {
          oneofs: { kind: { oneof: ["bytesList", "floatList", "int64List"] } },
          fields: {
            bytesList: { type: "BytesList", id: 1 },
            floatList: { type: "FloatList", id: 2 },
            int64List: { type: "Int64List", id: 3 },
          },
        },
        Features: { fields: { feature: { keyType: "string", type: "Feature", id: 1 } as protobuf.IField } },
        Example: { fields: { features: { type: "Features", id: 1 } } },
      },
    },
  },
});
const ExampleType = root.lookupType("tensorflow.Example");

export type FeatureValue =
  { kind: "int64"; values: number[] } | { kind: "float"; values: number[] } | { kind: "bytes"; values: Uint8Array[] };
export type ExampleFeatures = Map<string, FeatureValue>;

interface RawFeature {
  int64List?: { value?: number[] };
  floatList?: { value?: number[] };
  bytesList?: { value?: Uint8Array[] };
}

export class ExampleError extends Error {
  readonly code = "ERR_EXAMPLE";
}

export function decodeExample(data: Uint8Array): ExampleFeatures {
  let raw: { features?: { feature?: Record<string, RawFeature> } };
  try {
    raw = ExampleType.toObject(ExampleType.decode(data), { longs: Number, arrays: true });
  } catch (err) {
    throw new ExampleError(`not a tf.train.Example: ${(err as Error).message}`);
  }
  const out: ExampleFeatures = new Map();
  for (const [name, f] of Object.entries(raw.features?.feature ?? {})) {
    if (f.int64List) out.set(name, { kind: "int64", values: f.int64List.value ?? [] });
    else if (f.floatList) out.set(name, { kind: "float", values: f.floatList.value ?? [] });
    else if (f.bytesList) out.set(name, { kind: "bytes", values: f.bytesList.value ?? [] });
  }
  return out;
}

export function encodeExample(features: ExampleFeatures): Uint8Array {
  const feature: Record<string, RawFeature> = {};
  for (const [name, f] of features) {
    if (f.kind === "int64") feature[name] = { int64List: { value: f.values } };
    else if (f.kind === "float") feature[name] = { floatList: { value: f.values } };
    else feature[name] = { bytesList: { value: f.values } };
  }
  return ExampleType.encode(ExampleType.fromObject({ features: { feature } })).finish();
}

/** One pre-training instance with Google's feature names. Masks are present only in statically masked shards. */
export interface PretrainingInstance {
  inputIds: number[];
  inputMask: number[];
  segmentIds: number[];
  nextSentenceLabel: number;
  masked?: { positions: number[]; ids: number[]; weights: number[] };
}

function int64(features: ExampleFeatures, name: string, required: boolean): number[] | undefined {
  const f = features.get(name);
  if (!f) {
    if (required) throw new ExampleError(`missing feature ${name}`);
    return undefined;
  }
  if (f.kind !== "int64") throw new ExampleError(`feature ${name} is ${f.kind}, expected int64`);
  return f.values;
}

export function instanceFromExample(features: ExampleFeatures): PretrainingInstance {
  const inputIds = int64(features, "input_ids", true) as number[];
  const inputMask = int64(features, "input_mask", true) as number[];
  const segmentIds = int64(features, "segment_ids", true) as number[];
  const nsp = int64(features, "next_sentence_labels", true) as number[];
  if (inputMask.length !== inputIds.length || segmentIds.length !== inputIds.length)
    throw new ExampleError(
      `input_ids, input_mask and segment_ids differ in length (${inputIds.length}, ${inputMask.length}, ${segmentIds.length})`,
    );
  const instance: PretrainingInstance = { inputIds, inputMask, segmentIds, nextSentenceLabel: nsp[0] ?? 0 };
  const positions = int64(features, "masked_lm_positions", false);
  const ids = int64(features, "masked_lm_ids", false);
  const w = features.get("masked_lm_weights");
  if (positions && ids && w && w.kind === "float") instance.masked = { positions, ids, weights: w.values };
  return instance;
}

export function exampleFromInstance(i: PretrainingInstance): ExampleFeatures {
  const f: ExampleFeatures = new Map();
  f.set("input_ids", { kind: "int64", values: i.inputIds });
  f.set("input_mask", { kind: "int64", values: i.inputMask });
  f.set("segment_ids", { kind: "int64", values: i.segmentIds });
  if (i.masked) {
    f.set("masked_lm_positions", { kind: "int64", values: i.masked.positions });
    f.set("masked_lm_ids", { kind: "int64", values: i.masked.ids });
    f.set("masked_lm_weights", { kind: "float", values: i.masked.weights });
  }
  f.set("next_sentence_labels", { kind: "int64", values: [i.nextSentenceLabel] });
  return f;
}
