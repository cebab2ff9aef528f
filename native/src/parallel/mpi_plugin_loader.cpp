// Opens libbert_mpi.so with dlopen. RTLD_GLOBAL matters: OpenMPI loads its own components as plugins that
// resolve symbols from libmpi, which they can only see if libmpi was loaded into the global namespace.
#include <dlfcn.h>

#include "bert/communicator.h"

namespace bert {

Status load_mpi_communicator(const std::string& plugin_path, std::unique_ptr<Communicator>* out) {
  void* handle = dlopen(plugin_path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle)
    return Status(StatusCode::kCommunication,
                  std::string("cannot load the MPI plugin: ") + dlerror() +
                      " (multi-process runs need OpenMPI: apt-get install openmpi-bin libopenmpi-dev, then rebuild)");
  using Create = Communicator* (*)(char*, size_t);
  auto create = reinterpret_cast<Create>(dlsym(handle, "bert_mpi_create"));
  if (!create) return Status(StatusCode::kCommunication, plugin_path + " has no bert_mpi_create entry point");
  char error[512] = {0};
  Communicator* comm = create(error, sizeof(error));
  if (!comm) return Status(StatusCode::kCommunication, std::string("MPI initialisation failed: ") + error);
  out->reset(comm);
  return Status::ok();
}

}  // namespace bert
