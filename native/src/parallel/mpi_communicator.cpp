// The MPI side of the Communicator, built as its own shared library (libbert_mpi.so) so that the addon loads MPI
// only in a multi-process run. MPI is initialised with MPI_THREAD_SERIALIZED: the engine's gradient thread and
// the JS thread both call in, one at a time (a mutex here makes sure), and MPI errors come back as codes instead
// of aborting, so they can be reported with the rank that saw them.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "bert/communicator.h"

namespace {

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

class MpiCommunicator final : public bert::Communicator {
 public:
  bert::Status init() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      if (rc != MPI_SUCCESS) return fail("MPI_Init_thread", rc);
      if (provided < MPI_THREAD_SERIALIZED)
        return bert::Status(bert::StatusCode::kCommunication,
                            "this MPI library does not support MPI_THREAD_SERIALIZED, which bert-train needs");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    local_rank_ = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("MPI_LOCALRANKID", 0));
    return bert::Status::ok();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  bert::Status allreduce_sum(float* data, int64_t count) override {
    return allreduce(data, count, MPI_FLOAT, MPI_SUM, "MPI_Allreduce(sum, float)");
  }
  bert::Status allreduce_sum(double* data, int64_t count) override {
    return allreduce(data, count, MPI_DOUBLE, MPI_SUM, "MPI_Allreduce(sum, double)");
  }
  bert::Status allreduce_max(double* data, int64_t count) override {
    return allreduce(data, count, MPI_DOUBLE, MPI_MAX, "MPI_Allreduce(max, double)");
  }
  void abort(int exit_code) override { MPI_Abort(MPI_COMM_WORLD, exit_code); }
  bert::Status finalize() override {
    std::lock_guard<std::mutex> lock(mutex_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return bert::Status::ok();
    int rc = MPI_Finalize();
    return rc == MPI_SUCCESS ? bert::Status::ok() : fail("MPI_Finalize", rc);
  }

 private:
  bert::Status allreduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op, const char* what) {
    std::lock_guard<std::mutex> lock(mutex_);
    // MPI counts are ints: long buffers go in pieces of at most 2^30 elements.
    auto* bytes = static_cast<char*>(data);
    int type_size = 0;
    MPI_Type_size(type, &type_size);
    for (int64_t done = 0; done < count;) {
      const int n = static_cast<int>(std::min<int64_t>(count - done, int64_t{1} << 30));
      int rc = MPI_Allreduce(MPI_IN_PLACE, bytes + done * type_size, n, type, op, MPI_COMM_WORLD);
      if (rc != MPI_SUCCESS) return fail(what, rc);
      done += n;
    }
    return bert::Status::ok();
  }
  bert::Status fail(const char* what, int rc) const {
    return bert::Status(bert::StatusCode::kCommunication,
                        std::string(what) + " failed on rank " + std::to_string(rank_) + ": " + mpi_error(rc));
  }

  std::mutex mutex_;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

// The plugin's one entry point, looked up by name with dlsym. Returns nullptr and fills `error` on failure.
extern "C" __attribute__((visibility("default"))) bert::Communicator* bert_mpi_create(char* error, size_t error_size) {
  auto comm = std::make_unique<MpiCommunicator>();
  bert::Status status = comm->init();
  if (!status.is_ok()) {
    std::snprintf(error, error_size, "%s", status.message().c_str());
    return nullptr;
  }
  return comm.release();
}
