// Communicator: the collectives data-parallel training needs, over whatever connects the processes (MPI here;
// NCCL would fit the same interface on GPUs). Calls are blocking and may come from any thread, but never two at
// once, and every rank must issue the same collectives in the same order.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "bert/status.h"

namespace bert {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank within this host (for messages and binding), 0 when unknown.
  virtual int local_rank() const = 0;
  virtual Status allreduce_sum(float* data, int64_t count) = 0;
  virtual Status allreduce_sum(double* data, int64_t count) = 0;
  virtual Status allreduce_max(double* data, int64_t count) = 0;
  // Ends every rank of the job (a rank that cannot go on must not leave the others waiting in a collective).
  virtual void abort(int exit_code) = 0;
  // Called once, after the last collective.
  virtual Status finalize() = 0;
};

// How an engine averages its gradients over the ranks (DeepSpeed's data-parallel settings).
struct GradientSyncOptions {
  bool overlap = true;              // reduce during the backward pass; false (--delay_allreduce): at step time
  bool prescale = false;            // prescale_gradients: divide by the world size before the sum
  double predivide_factor = 1.0;    // gradient_predivide_factor (used when not prescaling)
  int64_t bucket_floats = 1 << 22;  // longer ranges go in pieces of this many floats (16 MiB)
};

// Loads the MPI plugin (libbert_mpi.so, built only where MPI is installed) and initialises MPI. Single-process
// runs never call this, so they need no MPI library at run time.
Status load_mpi_communicator(const std::string& plugin_path, std::unique_ptr<Communicator>* out);

}  // namespace bert
