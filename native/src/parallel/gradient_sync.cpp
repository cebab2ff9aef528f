#include "parallel/gradient_sync.h"

#include <algorithm>
#include <chrono>

namespace bert {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void scale(float* data, int64_t count, float factor) {
  if (factor == 1.0f) return;
  for (int64_t i = 0; i < count; i++) data[i] *= factor;
}

}  // namespace

GradientSync::GradientSync(Communicator* comm, const GradientSyncOptions& options, Backend* backend)
    : comm_(comm), options_(options), backend_(backend) {
  // DeepSpeed's allreduce_bucket: with prescale_gradients the gradients are divided by the world size before the
  // sum; otherwise by gradient_predivide_factor before and by world_size / factor after.
  const double world = comm->size();
  if (options.prescale) {
    pre_scale_ = static_cast<float>(1.0 / world);
  } else {
    if (options.predivide_factor != 1.0) pre_scale_ = static_cast<float>(1.0 / options.predivide_factor);
    if (options.predivide_factor != world) post_scale_ = static_cast<float>(options.predivide_factor / world);
  }
  thread_ = std::thread([this] { loop(); });
}

GradientSync::~GradientSync() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  thread_.join();
}

void GradientSync::submit(float* data, int64_t count) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int64_t done = 0; done < count; done += options_.bucket_floats) {
      queue_.push_back({data + done, std::min(options_.bucket_floats, count - done)});
      in_flight_++;
    }
  }
  work_ready_.notify_one();
}

Status GradientSync::finish(GradientSyncStats* stats) {
  const double started = now_ms();
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [this] { return in_flight_ == 0; });
  *stats = GradientSyncStats{};
  stats->wait_ms = now_ms() - started;
  stats->allreduce_ms = allreduce_ms_;
  stats->floats = floats_;
  allreduce_ms_ = 0;
  floats_ = 0;
  Status result = first_error_;
  first_error_ = Status::ok();
  return result;
}

void GradientSync::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    Bucket b = queue_.front();
    queue_.pop_front();
    const bool skip = !first_error_.is_ok();  // after a failure the job is over; drain without more collectives
    lock.unlock();
    const double started = now_ms();
    Status status = skip ? Status::ok() : reduce(b);
    const double elapsed = now_ms() - started;
    lock.lock();
    allreduce_ms_ += elapsed;
    floats_ += b.count;
    if (!status.is_ok() && first_error_.is_ok()) first_error_ = status;
    if (--in_flight_ == 0) work_done_.notify_all();
  }
}

// On a device the host cannot address (a GPU), the bucket is staged through host memory: the download is ordered
// after the kernels that produced it (it runs on the backend's stream), the upload before the optimizer's.
Status GradientSync::reduce(const Bucket& b) {
  float* data = b.data;
  const size_t bytes = sizeof(float) * b.count;
  if (!backend_->host_addressable()) {
    BERT_RETURN_IF_ERROR(backend_->bind_thread());  // this thread's current GPU (CUDA's is per thread)
    staging_.resize(b.count);
    backend_->download(staging_.data(), b.data, bytes);
    data = staging_.data();
  }
  scale(data, b.count, pre_scale_);
  Status status = comm_->allreduce_sum(data, b.count);
  if (status.is_ok()) scale(data, b.count, post_scale_);
  if (status.is_ok() && data != b.data) backend_->upload(b.data, data, bytes);
  return status;
}

}  // namespace bert
