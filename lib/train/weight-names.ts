// The tensor names of the common BERT layouts, mapped onto the engine's (HuggingFace BertForPreTraining's for
// Post-LN, NVIDIA's/DeepSpeed's for Pre-LN): HuggingFace BertModel (no "bert." prefix), BertForMaskedLM,
// BertForSequenceClassification, older checkpoints' LayerNorm gamma/beta, DeepSpeed's "module." prefix, and the
// same linear layer under "dense" (HuggingFace) or "dense_act" (NVIDIA's fused bias-GELU).
// Buffers (position_ids) and the decoder HuggingFace ties to the word embeddings are not weights to load.

/** A source name in the engine's spelling, or undefined for a tensor that is not a weight (a buffer, a tied copy). */
export function canonicalName(source: string): string | undefined {
  let n = source;
  while (n.startsWith("module.")) n = n.slice("module.".length);
  if (n.endsWith(".position_ids") || n.startsWith("cls.predictions.decoder.")) return undefined;
  if (/^(embeddings|encoder|pooler)\./.test(n)) n = `bert.${n}`;
  return n.replace(/(LayerNorm)\.gamma$/, "$1.weight").replace(/(LayerNorm)\.beta$/, "$1.bias");
}

/** The other spelling of a linear layer that both layouts share (dense <-> dense_act), or undefined. */
function otherSpelling(name: string): string | undefined {
  const m = /^(.*\.(?:intermediate|pooler|transform))\.(dense|dense_act)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  return `${m[1]}.${m[2] === "dense" ? "dense_act" : "dense"}.${m[3]}`;
}

export interface NameMap {
  /** Engine name -> the source's name for it. */
  sources: Map<string, string>;
  /** Source names that are not weights (buffers, tied copies). */
  ignored: string[];
  /** Source weights the engine has no place for. */
  unused: string[];
}

/** Matches a file's tensor names to the engine's parameters. */
export function mapNames(sourceNames: Iterable<string>, engineNames: string[]): NameMap {
  const byCanonical = new Map<string, string>();
  const ignored: string[] = [];
  for (const s of sourceNames) {
    const c = canonicalName(s);
    if (c === undefined) ignored.push(s);
    else if (!byCanonical.has(c)) byCanonical.set(c, s);
  }
  const sources = new Map<string, string>();
  for (const e of engineNames) {
    const other = otherSpelling(e);
    const found = byCanonical.get(e) ?? (other === undefined ? undefined : byCanonical.get(other));
    if (found !== undefined) sources.set(e, found);
  }
  const used = new Set(sources.values());
  const unused = [...byCanonical.values()].filter((s) => !used.has(s));
  return { sources, ignored, unused };
}

export type WeightGroup = "embeddings" | "encoder" | "pooler" | "MLM head" | "NSP head" | "classifier";

export function weightGroup(engineName: string): WeightGroup {
  if (engineName.startsWith("bert.embeddings.")) return "embeddings";
  if (engineName.startsWith("bert.encoder.")) return "encoder";
  if (engineName.startsWith("bert.pooler.")) return "pooler";
  if (engineName.startsWith("cls.predictions.")) return "MLM head";
  if (engineName.startsWith("cls.seq_relationship.")) return "NSP head";
  return "classifier";
}

/** The groups a model cannot do without: left random, the run would train from scratch in all but name. */
export const BODY_GROUPS: ReadonlySet<WeightGroup> = new Set(["embeddings", "encoder"]);
