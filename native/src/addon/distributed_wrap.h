// The process's communicator, for multi-process runs: `initDistributed(pluginPath)` loads MPI and returns this
// rank's place in the job; the other functions are the few collectives the TS layer needs between steps.
#pragma once
#include <napi.h>

#include "bert/communicator.h"

namespace bert::addon {

void define_distributed(Napi::Env env, Napi::Object exports);
// nullptr until initDistributed succeeded.
bert::Communicator* process_communicator();

}  // namespace bert::addon
