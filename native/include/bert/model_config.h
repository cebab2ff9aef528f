// ModelConfig: the architecture of one BERT, in the vocabulary of `bert_model_config` (DeepSpeed/HuggingFace keys),
// plus the choices this project adds (Pre-LN vs Post-LN, GELU form, task head).
#pragma once
#include <cstdint>
#include <string>

#include "bert/status.h"

namespace bert {

// kFp16 emulates GPU half precision on the CPU: GEMM operands and results are rounded to fp16 values (so they
// overflow and underflow as in half precision) while the arithmetic runs in fp32.
enum class Precision { kFp32, kBf16, kFp16 };
enum class GeluForm { kErf, kTanh };
enum class LayerNormPlacement { kPre, kPost };  // Pre-LN = the PLD paper's switchable transformer

struct ModelConfig {
  int vocab_size = 30522;
  int hidden_size = 768;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int intermediate_size = 3072;
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  float hidden_dropout_prob = 0.1f;
  float attention_probs_dropout_prob = 0.1f;
  float layer_norm_eps = 1e-12f;
  GeluForm gelu = GeluForm::kErf;
  LayerNormPlacement layer_norm = LayerNormPlacement::kPre;
  // 0: pre-training heads (MLM + NSP). >0: a sequence-classification head with this many outputs instead
  // (1 output means regression with an MSE loss, as for STS-B).
  int num_labels = 0;

  int head_size() const { return hidden_size / num_attention_heads; }
  bool pre_ln() const { return layer_norm == LayerNormPlacement::kPre; }
  Status validate() const;
};

// The integer and probability keys of a model config, with their allowed ranges: the one table the checks below
// and the addon's reading of a JS config both use, so every front end reports the same rule in the same words.
struct IntegerKey {
  const char* name;
  int ModelConfig::*field;
  int minimum;
};
inline constexpr IntegerKey kIntegerKeys[] = {
    {"vocab_size", &ModelConfig::vocab_size, 8},
    {"hidden_size", &ModelConfig::hidden_size, 1},
    {"num_hidden_layers", &ModelConfig::num_hidden_layers, 1},
    {"num_attention_heads", &ModelConfig::num_attention_heads, 1},
    {"intermediate_size", &ModelConfig::intermediate_size, 1},
    {"max_position_embeddings", &ModelConfig::max_position_embeddings, 2},
    {"type_vocab_size", &ModelConfig::type_vocab_size, 1},
    {"num_labels", &ModelConfig::num_labels, 0},
};
struct ProbabilityKey {
  const char* name;
  float ModelConfig::*field;
};
inline constexpr ProbabilityKey kProbabilityKeys[] = {
    {"hidden_dropout_prob", &ModelConfig::hidden_dropout_prob},
    {"attention_probs_dropout_prob", &ModelConfig::attention_probs_dropout_prob},
};
// The spellings of hidden_act: "gelu" is the erf form; "gelu_tanh" and HuggingFace's "gelu_new" the tanh one.
inline constexpr const char* kHiddenActs = "\"gelu\", \"gelu_tanh\" or \"gelu_new\"";

inline std::string integer_key_rule(const IntegerKey& k) {
  return std::string("Expected an integer >= ") + std::to_string(k.minimum) + " for " + k.name;
}
inline std::string probability_key_rule(const ProbabilityKey& k) {
  return std::string("Expected a number in [0, 1) for ") + k.name;
}

inline Status ModelConfig::validate() const {
  auto bad = [](const std::string& msg) { return Status(StatusCode::kInvalidConfig, msg); };
  for (const IntegerKey& k : kIntegerKeys)
    if (this->*k.field < k.minimum) return bad(integer_key_rule(k) + " but received " + std::to_string(this->*k.field));
  for (const ProbabilityKey& k : kProbabilityKeys)
    if (!(this->*k.field >= 0 && this->*k.field < 1))
      return bad(probability_key_rule(k) + " but received " + std::to_string(this->*k.field));
  if (hidden_size % num_attention_heads != 0)
    return bad("Expected num_attention_heads to divide hidden_size but received num_attention_heads = " +
               std::to_string(num_attention_heads) + ", hidden_size = " + std::to_string(hidden_size));
  if (!(layer_norm_eps > 0))
    return bad("Expected a positive number for layer_norm_eps but received " + std::to_string(layer_norm_eps));
  return Status::ok();
}

}  // namespace bert
