// The parameter table: names (DeepSpeed Pre-LN BERT names, or HuggingFace BertForPreTraining names for Post-LN),
// shapes and offsets into one allocation. Query, key and value of a layer are adjacent so they form one (3C, C)
// weight for the fused QKV GEMM.
#include <cmath>
#include <map>

#include "model/alignment.h"
#include "model/bert_model.h"

namespace bert {
namespace {

class LayoutBuilder {
 public:
  // `pad`: start the next tensor on a 64-byte boundary (off inside the q/k/v groups, which must be contiguous).
  void add(const std::string& name, std::vector<int64_t> shape, bool pad = true) {
    ParamInfo info;
    info.name = name;
    info.shape = std::move(shape);
    info.size = 1;
    for (int64_t d : info.shape) info.size *= d;
    info.offset = next_;
    info.layer = layer_;
    next_ += pad ? aligned_floats(info.size) : info.size;
    info.no_decay = name.find("bias") != std::string::npos || name.find("LayerNorm") != std::string::npos;
    layout.push_back(std::move(info));
  }
  // The encoder layer the following tensors belong to (-1: none).
  void set_layer(int layer) { layer_ = layer; }
  std::vector<ParamInfo> layout;

 private:
  int64_t next_ = 0;
  int layer_ = -1;
};

struct Names {
  std::string ln1, ffn_in, ln2, pooler, mlm_transform;
};

Names names_for(const ModelConfig& c) {
  if (c.pre_ln())
    return {"PreAttentionLayerNorm", "intermediate.dense_act", "PostAttentionLayerNorm", "bert.pooler.dense_act",
            "cls.predictions.transform.dense_act"};
  return {"attention.output.LayerNorm", "intermediate.dense", "output.LayerNorm", "bert.pooler.dense",
          "cls.predictions.transform.dense"};
}

}  // namespace

std::vector<ParamInfo> build_param_layout(const ModelConfig& c) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const Names n = names_for(c);
  LayoutBuilder b;
  b.add("bert.embeddings.word_embeddings.weight", {V, C});
  b.add("bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, C});
  b.add("bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, C});
  b.add("bert.embeddings.LayerNorm.weight", {C});
  b.add("bert.embeddings.LayerNorm.bias", {C});
  for (int l = 0; l < c.num_hidden_layers; l++) {
    const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
    b.set_layer(l);
    // Weights of q, k, v first, then their biases: each group is contiguous.
    b.add(p + "attention.self.query.weight", {C, C}, false);
    b.add(p + "attention.self.key.weight", {C, C}, false);
    b.add(p + "attention.self.value.weight", {C, C});
    b.add(p + "attention.self.query.bias", {C}, false);
    b.add(p + "attention.self.key.bias", {C}, false);
    b.add(p + "attention.self.value.bias", {C});
    b.add(p + "attention.output.dense.weight", {C, C});
    b.add(p + "attention.output.dense.bias", {C});
    b.add(p + n.ln1 + ".weight", {C});
    b.add(p + n.ln1 + ".bias", {C});
    b.add(p + n.ffn_in + ".weight", {F, C});
    b.add(p + n.ffn_in + ".bias", {F});
    b.add(p + "output.dense.weight", {C, F});
    b.add(p + "output.dense.bias", {C});
    b.add(p + n.ln2 + ".weight", {C});
    b.add(p + n.ln2 + ".bias", {C});
  }
  b.set_layer(-1);
  if (c.pre_ln()) {
    b.add("bert.encoder.FinalLayerNorm.weight", {C});
    b.add("bert.encoder.FinalLayerNorm.bias", {C});
  }
  b.add(n.pooler + ".weight", {C, C});
  b.add(n.pooler + ".bias", {C});
  if (c.num_labels == 0) {
    b.add(n.mlm_transform + ".weight", {C, C});
    b.add(n.mlm_transform + ".bias", {C});
    b.add("cls.predictions.transform.LayerNorm.weight", {C});
    b.add("cls.predictions.transform.LayerNorm.bias", {C});
    b.add("cls.predictions.bias", {V});
    b.add("cls.seq_relationship.weight", {2, C});
    b.add("cls.seq_relationship.bias", {2});
  } else {
    b.add("classifier.weight", {c.num_labels, C});
    b.add("classifier.bias", {c.num_labels});
  }
  return b.layout;
}

void bind_params(const ModelConfig& c, const std::vector<ParamInfo>& layout, float* base, ModelParams* out) {
  // The layout is built in a fixed order; walk it in the same order.
  size_t i = 0;
  auto next = [&]() { return base + layout[i++].offset; };
  out->word_emb = next();
  out->pos_emb = next();
  out->type_emb = next();
  out->emb_ln_w = next();
  out->emb_ln_b = next();
  out->layers.assign(c.num_hidden_layers, LayerParams{});
  for (auto& L : out->layers) {
    L.qkv_w = next();
    next();
    next();
    L.qkv_b = next();
    next();
    next();
    L.attn_out_w = next();
    L.attn_out_b = next();
    L.ln1_w = next();
    L.ln1_b = next();
    L.ffn_in_w = next();
    L.ffn_in_b = next();
    L.ffn_out_w = next();
    L.ffn_out_b = next();
    L.ln2_w = next();
    L.ln2_b = next();
  }
  if (c.pre_ln()) {
    out->final_ln_w = next();
    out->final_ln_b = next();
  }
  out->pooler_w = next();
  out->pooler_b = next();
  if (c.num_labels == 0) {
    out->mlm_dense_w = next();
    out->mlm_dense_b = next();
    out->mlm_ln_w = next();
    out->mlm_ln_b = next();
    out->mlm_bias = next();
    out->nsp_w = next();
    out->nsp_b = next();
  } else {
    out->cls_w = next();
    out->cls_b = next();
  }
}

void init_params(const ModelConfig& c, const std::vector<ParamInfo>& layout, uint64_t seed, float* base) {
  const double stddev = 0.02;
  const double out_stddev = 0.02 / std::sqrt(2.0 * c.num_hidden_layers);
  for (size_t t = 0; t < layout.size(); t++) {
    const ParamInfo& p = layout[t];
    float* w = base + p.offset;
    const bool is_ln_weight = p.name.find("LayerNorm.weight") != std::string::npos;
    if (p.no_decay) {
      for (int64_t i = 0; i < p.size; i++) w[i] = is_ln_weight ? 1.0f : 0.0f;
      continue;
    }
    const bool output_projection =
        p.name.find("attention.output.dense.weight") != std::string::npos ||
        (p.name.find(".output.dense.weight") != std::string::npos && p.name.find("attention") == std::string::npos);
    const double sd = output_projection ? out_stddev : stddev;
    // Box-Muller on counter-based uniforms: the values depend only on (seed, tensor index, element).
    const uint64_t stream = mix64(seed ^ mix64(0x5eed0000ULL + t));
    for (int64_t i = 0; i < p.size; i += 2) {
      double u1 = (static_cast<double>(mix64(stream + 2 * i + 1) >> 11) + 1.0) / 9007199254740993.0;
      double u2 = static_cast<double>(mix64(stream + 2 * i + 2) >> 11) / 9007199254740992.0;
      double r = std::sqrt(-2.0 * std::log(u1));
      w[i] = static_cast<float>(sd * r * std::cos(2.0 * M_PI * u2));
      if (i + 1 < p.size) w[i + 1] = static_cast<float>(sd * r * std::sin(2.0 * M_PI * u2));
    }
  }
}

}  // namespace bert
