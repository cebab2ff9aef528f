#include "model/device_batch.h"

#include <cstring>

#include "model/alignment.h"

namespace bert {

BatchUploader::~BatchUploader() {
  backend_->free_bytes(block_);
  backend_->free_bytes(scalars_);
}

// Appends an array of 4-byte values to the staging words, each array on an aligned boundary; returns its offset
// in words, or -1 when the batch does not have it.
int64_t BatchUploader::stage(const void* values, int64_t count) {
  if (!values || count == 0) return -1;
  const int64_t at = static_cast<int64_t>(staging_.size());
  staging_.resize(at + aligned_floats(count));
  std::memcpy(staging_.data() + at, values, 4 * count);  // host memory
  return at;
}

template <typename T>
const T* BatchUploader::device_at(int64_t offset) const {
  static_assert(sizeof(T) == 4, "batch arrays are 4-byte words");
  return offset < 0 ? nullptr : reinterpret_cast<const T*>(static_cast<const uint32_t*>(block_) + offset);
}

Status BatchUploader::reserve(size_t bytes) {
  if (bytes <= capacity_) return Status::ok();
  backend_->free_bytes(block_);
  capacity_ = 0;
  block_ = backend_->alloc_bytes(bytes);
  if (!block_) return Status(StatusCode::kOutOfMemory, "could not allocate the batch inputs on the device");
  capacity_ = bytes;
  return Status::ok();
}

Status BatchUploader::upload(const Batch& b, DeviceBatch* out) {
  const int64_t BT = static_cast<int64_t>(b.batch_size) * b.seq_len;
  staging_.clear();
  std::vector<float> mask(BT);
  for (int64_t i = 0; i < BT; i++) mask[i] = static_cast<float>(b.input_mask[i]);
  std::vector<int32_t> cls(b.batch_size);
  for (int i = 0; i < b.batch_size; i++) cls[i] = i * b.seq_len;
  const int64_t ids = stage(b.input_ids, BT), segments = stage(b.segment_ids, BT), mask_at = stage(mask.data(), BT);
  const int64_t cls_at = stage(cls.data(), b.batch_size);
  const int64_t positions = stage(b.masked_positions, b.num_masked), labels = stage(b.masked_labels, b.num_masked);
  const int64_t nsp = stage(b.next_sentence_labels, b.batch_size), classes = stage(b.class_labels, b.batch_size);
  const int64_t targets = stage(b.regression_targets, b.batch_size);
  BERT_RETURN_IF_ERROR(reserve(staging_.size() * 4));
  backend_->upload(block_, staging_.data(), staging_.size() * 4);
  DeviceBatch d;
  d.input_ids = device_at<int32_t>(ids);
  d.segment_ids = device_at<int32_t>(segments);
  d.mask = device_at<float>(mask_at);
  d.cls_index = device_at<int32_t>(cls_at);
  d.masked_positions = device_at<int32_t>(positions);
  d.masked_labels = device_at<int32_t>(labels);
  d.next_sentence_labels = device_at<int32_t>(nsp);
  d.class_labels = device_at<int32_t>(classes);
  d.regression_targets = device_at<float>(targets);
  *out = d;
  return Status::ok();
}

Status BatchUploader::reset_scalars(PassScalars** device) {
  if (!scalars_) scalars_ = static_cast<PassScalars*>(backend_->alloc_bytes(sizeof(PassScalars)));
  if (!scalars_) return Status(StatusCode::kOutOfMemory, "could not allocate the loss scalars on the device");
  backend_->memset_zero(scalars_, sizeof(PassScalars));
  *device = scalars_;
  return Status::ok();
}

PassScalars BatchUploader::download_scalars() {
  PassScalars s;
  backend_->download(&s, scalars_, sizeof(PassScalars));
  return s;
}

}  // namespace bert
