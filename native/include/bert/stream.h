// Where kernels run: the device kinds, and the ordered work queue every kernel launch takes.
#pragma once

namespace bert {

enum class Device { kCpu, kCuda };

// An ordered queue of work on a backend: what is launched on one stream runs in launch order. On CUDA the handle
// is a cudaStream_t; CPU kernels run at once on the calling thread and ignore it.
struct Stream {
  void* handle = nullptr;
};

}  // namespace bert
