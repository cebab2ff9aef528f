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

inline Status ModelConfig::validate() const {
  auto bad = [](const std::string& msg) { return Status(StatusCode::kInvalidConfig, msg); };
  if (vocab_size < 8) return bad("vocab_size must be at least 8, got " + std::to_string(vocab_size));
  if (hidden_size < 1) return bad("hidden_size must be positive, got " + std::to_string(hidden_size));
  if (num_hidden_layers < 1) return bad("num_hidden_layers must be positive, got " + std::to_string(num_hidden_layers));
  if (num_attention_heads < 1 || hidden_size % num_attention_heads != 0)
    return bad("num_attention_heads (" + std::to_string(num_attention_heads) + ") must divide hidden_size (" +
               std::to_string(hidden_size) + ")");
  if (intermediate_size < 1) return bad("intermediate_size must be positive, got " + std::to_string(intermediate_size));
  if (max_position_embeddings < 2) return bad("max_position_embeddings must be at least 2");
  if (type_vocab_size < 1) return bad("type_vocab_size must be positive");
  if (!(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1)) return bad("hidden_dropout_prob must be in [0, 1)");
  if (!(attention_probs_dropout_prob >= 0 && attention_probs_dropout_prob < 1))
    return bad("attention_probs_dropout_prob must be in [0, 1)");
  if (!(layer_norm_eps > 0)) return bad("layer_norm_eps must be positive");
  if (num_labels < 0) return bad("num_labels must be 0 (pre-training heads) or positive");
  return Status::ok();
}

}  // namespace bert
