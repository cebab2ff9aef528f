// A golden file of scripts/make_golden.py as the C++ tests use it: the model config, the batch (of one step),
// the PLD gates and the dropout key, read from the file's tensors and metadata.
#pragma once
#include <string>
#include <vector>

#include "bert/engine.h"
#include "golden/safetensors.h"

namespace bert::test {

inline ModelConfig golden_config(const Safetensors& f) {
  const Json j = Json::parse(f.metadata("config"));
  ModelConfig c;
  for (const IntegerKey& k : kIntegerKeys) c.*k.field = static_cast<int>(j.at(k.name).number);
  for (const ProbabilityKey& k : kProbabilityKeys) c.*k.field = static_cast<float>(j.at(k.name).number);
  c.layer_norm_eps = static_cast<float>(j.at("layer_norm_eps").number);
  c.gelu = j.at("hidden_act").string == "gelu" ? GeluForm::kErf : GeluForm::kTanh;
  c.layer_norm = j.at("pre_layer_norm").boolean ? LayerNormPlacement::kPre : LayerNormPlacement::kPost;
  return c;
}

// The arrays of one batch and the Batch that points into them.
struct GoldenBatch {
  std::vector<int32_t> ids, segments, mask, positions, labels, nsp, classes;
  std::vector<float> targets;
  Batch batch;
};

inline void load_golden_batch(const Safetensors& f, const ModelConfig& c, const std::string& prefix, GoldenBatch* g) {
  const std::vector<int64_t> shape = f.shape(prefix + "input_ids");
  g->ids = f.get<int32_t>(prefix + "input_ids");
  g->segments = f.get<int32_t>(prefix + "segment_ids");
  g->mask = f.get<int32_t>(prefix + "input_mask");
  Batch& b = g->batch;
  b = Batch{};
  b.batch_size = static_cast<int>(shape[0]), b.seq_len = static_cast<int>(shape[1]);
  b.input_ids = g->ids.data(), b.segment_ids = g->segments.data(), b.input_mask = g->mask.data();
  if (c.num_labels == 0) {
    g->positions = f.get<int32_t>(prefix + "masked_positions");
    g->labels = f.get<int32_t>(prefix + "masked_labels");
    g->nsp = f.get<int32_t>(prefix + "next_sentence_labels");
    b.num_masked = static_cast<int>(g->positions.size());
    b.masked_positions = g->positions.data(), b.masked_labels = g->labels.data();
    b.next_sentence_labels = g->nsp.data();
  } else if (c.num_labels == 1) {
    g->targets = f.get<float>(prefix + "regression_targets");
    b.regression_targets = g->targets.data();
  } else {
    g->classes = f.get<int32_t>(prefix + "class_labels");
    b.class_labels = g->classes.data();
  }
}

inline PldGates golden_gates(const Safetensors& f, int layers) {
  PldGates gates = all_layers_kept(layers);
  if (f.metadata("gates").empty()) return gates;
  const Json j = Json::parse(f.metadata("gates"));
  for (int l = 0; l < layers; l++) {
    gates[l].keep = j.at("keep").array[l].number != 0;
    gates[l].scale = static_cast<float>(j.at("scale").array[l].number);
  }
  return gates;
}

// Writes every param/<name> tensor of the file into the engine.
inline Status load_golden_weights(const Safetensors& f, Engine& e) {
  for (const std::string& name : f.names("param/")) {
    const ParamInfo* p = e.find_param(name);
    if (!p) return Status(StatusCode::kNotFound, "the engine has no parameter " + name);
    const std::vector<float> w = f.get<float>("param/" + name);
    BERT_RETURN_IF_ERROR(e.write(EngineArray::kParams, p->offset, p->size, w.data()));
  }
  return Status::ok();
}

}  // namespace bert::test
