// A micro-batch on the device: the host Batch's arrays packed into one staging buffer and uploaded in one
// transfer per call (the mask converted to floats, the [CLS] rows added), and the device scalars the heads' loss
// kernels add into, downloaded once per pass.
#pragma once
#include <cstdint>
#include <vector>

#include "bert/backend.h"
#include "bert/engine.h"

namespace bert {

struct DeviceBatch {
  const int32_t* input_ids = nullptr;    // (B, T)
  const int32_t* segment_ids = nullptr;  // (B, T)
  const float* mask = nullptr;           // (B, T) 0/1
  const int32_t* cls_index = nullptr;    // (B) flat row of each sequence's [CLS]: b*T
  const int32_t* masked_positions = nullptr;
  const int32_t* masked_labels = nullptr;
  const int32_t* next_sentence_labels = nullptr;
  const int32_t* class_labels = nullptr;
  const float* regression_targets = nullptr;
};

// What the loss kernels of one pass accumulate on the device.
struct PassScalars {
  double mlm_loss_sum, nsp_loss_sum, class_loss_sum;
  int64_t mlm_correct, nsp_correct, class_correct;
};

class BatchUploader {
 public:
  explicit BatchUploader(Backend* backend) : backend_(backend) {}
  ~BatchUploader();
  BatchUploader(const BatchUploader&) = delete;
  BatchUploader& operator=(const BatchUploader&) = delete;
  Status upload(const Batch& batch, DeviceBatch* out);
  // The pass's scalars on the device, zeroed.
  Status reset_scalars(PassScalars** device);
  PassScalars download_scalars();

 private:
  int64_t stage(const void* values, int64_t count);
  template <typename T>
  const T* device_at(int64_t offset) const;
  Status reserve(size_t bytes);

  Backend* backend_;
  void* block_ = nullptr;
  size_t capacity_ = 0;
  PassScalars* scalars_ = nullptr;
  std::vector<uint32_t> staging_;  // 4-byte words: int32 and fp32 arrays alike
};

}  // namespace bert
