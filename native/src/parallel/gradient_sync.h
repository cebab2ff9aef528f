// GradientSync: averages the fp32 gradients over the ranks of a data-parallel job. The engine submits ranges of
// its gradient buffer as they become final (a layer's, as soon as the backward pass has left it, when
// overlapping); a thread of this class reduces them in submission order, so the allreduce of layer l runs while
// the backward pass computes layer l-1. `finish` waits for the last one before the optimizer reads the buffer.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "bert/backend.h"
#include "bert/communicator.h"

namespace bert {

struct GradientSyncStats {
  double wait_ms = 0;       // time the optimizer step waited for reductions still in flight (not overlapped)
  double allreduce_ms = 0;  // time spent inside the allreduce calls, overlapped or not
  int64_t floats = 0;       // elements reduced this step
};

class GradientSync {
 public:
  // `backend` holds the gradients (and stages them through the host when it cannot be read directly).
  GradientSync(Communicator* comm, const GradientSyncOptions& options, Backend* backend);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  const GradientSyncOptions& options() const { return options_; }
  Communicator* communicator() const { return comm_; }
  // Queue a final range for reduction (split into buckets). Every rank must submit the same ranges in the same
  // order.
  void submit(float* data, int64_t count);
  // Wait until everything submitted is reduced and scaled; the first failure, if any. Resets the step's figures.
  Status finish(GradientSyncStats* stats);

 private:
  struct Bucket {
    float* data;
    int64_t count;
  };
  void loop();
  Status reduce(const Bucket& b);

  Communicator* comm_;
  GradientSyncOptions options_;
  Backend* backend_;
  std::vector<float> staging_;  // host copy of one bucket, for devices the host cannot address
  float pre_scale_ = 1.0f, post_scale_ = 1.0f;
  std::mutex mutex_;
  std::condition_variable work_ready_, work_done_;
  std::deque<Bucket> queue_;
  int64_t in_flight_ = 0;  // queued or being reduced
  bool stopping_ = false;
  Status first_error_;
  double allreduce_ms_ = 0;
  int64_t floats_ = 0;
  std::thread thread_;
};

}  // namespace bert
