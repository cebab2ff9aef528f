// What a batch and its PLD gates must satisfy before a pass touches them; each problem is named with its index.
// The one place these rules live: the addon reports these messages as they are.
#include <cmath>
#include <string>

#include "model/engine_impl.h"

namespace bert {
namespace {

Status bad(const std::string& msg) { return Status(StatusCode::kInvalidArgument, msg); }

Status validate_tokens(const ModelConfig& c, const Batch& b) {
  const int64_t BT = static_cast<int64_t>(b.batch_size) * b.seq_len;
  for (int64_t i = 0; i < BT; i++) {
    if (b.input_ids[i] < 0 || b.input_ids[i] >= c.vocab_size)
      return bad("input_ids[" + std::to_string(i) + "] = " + std::to_string(b.input_ids[i]) +
                 " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    if (b.segment_ids[i] < 0 || b.segment_ids[i] >= c.type_vocab_size)
      return bad("segment_ids[" + std::to_string(i) + "] = " + std::to_string(b.segment_ids[i]) +
                 " is outside [0, type_vocab_size = " + std::to_string(c.type_vocab_size) + ")");
    if (b.input_mask[i] != 0 && b.input_mask[i] != 1)
      return bad("input_mask[" + std::to_string(i) + "] must be 0 or 1");
  }
  return Status::ok();
}

Status validate_pretraining_targets(const ModelConfig& c, const Batch& b) {
  const int64_t BT = static_cast<int64_t>(b.batch_size) * b.seq_len;
  if (b.num_masked < 0) return bad("num_masked must not be negative");
  if (b.num_masked > 0 && (!b.masked_positions || !b.masked_labels))
    return bad("masked_positions and masked_labels are required when num_masked > 0");
  for (int i = 0; i < b.num_masked; i++) {
    if (b.masked_positions[i] < 0 || b.masked_positions[i] >= BT)
      return bad("masked_positions[" + std::to_string(i) + "] = " + std::to_string(b.masked_positions[i]) +
                 " is outside [0, B*T = " + std::to_string(BT) + ")");
    if (b.masked_labels[i] >= c.vocab_size)
      return bad("masked_labels[" + std::to_string(i) + "] = " + std::to_string(b.masked_labels[i]) +
                 " is outside the vocabulary");
  }
  if (!b.next_sentence_labels) return bad("next_sentence_labels are required for pre-training");
  for (int i = 0; i < b.batch_size; i++)
    if (b.next_sentence_labels[i] > 1) return bad("next_sentence_labels must be 0, 1 (or negative: ignored)");
  return Status::ok();
}

Status validate_classification_targets(const ModelConfig& c, const Batch& b) {
  if (c.num_labels == 1) {
    if (!b.regression_targets) return bad("regression_targets are required when num_labels is 1");
    for (int i = 0; i < b.batch_size; i++)
      if (!std::isfinite(b.regression_targets[i]))
        return bad("regression_targets[" + std::to_string(i) + "] is not finite");
    return Status::ok();
  }
  if (!b.class_labels) return bad("class_labels are required for classification");
  for (int i = 0; i < b.batch_size; i++)
    if (b.class_labels[i] >= c.num_labels)
      return bad("class_labels[" + std::to_string(i) + "] = " + std::to_string(b.class_labels[i]) +
                 " is not below num_labels = " + std::to_string(c.num_labels));
  return Status::ok();
}

}  // namespace

Status validate_batch_shape(const ModelConfig& c, int batch_size, int seq_len) {
  if (batch_size < 1 || seq_len < 1) return bad("batch_size and seq_len must be positive integers");
  if (seq_len > c.max_position_embeddings)
    return bad("seq_len " + std::to_string(seq_len) + " exceeds max_position_embeddings " +
               std::to_string(c.max_position_embeddings));
  return Status::ok();
}

Status validate_pld_gates(const PldGates& gates, int num_layers) {
  if (static_cast<int>(gates.size()) != num_layers)
    return bad("the PLD gates need one entry per layer (" + std::to_string(num_layers) + "), got " +
               std::to_string(gates.size()));
  for (size_t l = 0; l < gates.size(); l++)
    if (gates[l].keep && !(std::isfinite(gates[l].scale) && gates[l].scale > 0))
      return bad("layer " + std::to_string(l) + " has a residual scale that is not a positive finite number");
  return Status::ok();
}

Status Engine::Impl::validate(const Batch& b, const PldGates& gates) const {
  BERT_RETURN_IF_ERROR(validate_batch_shape(config, b.batch_size, b.seq_len));
  if (!b.input_ids || !b.segment_ids || !b.input_mask) return bad("input_ids, segment_ids and input_mask are required");
  BERT_RETURN_IF_ERROR(validate_pld_gates(gates, config.num_hidden_layers));
  BERT_RETURN_IF_ERROR(validate_tokens(config, b));
  if (config.num_labels == 0) return validate_pretraining_targets(config, b);
  return validate_classification_targets(config, b);
}

}  // namespace bert
