// An advisory lock on a file (flock), held by the live process and released by the kernel when it dies: what
// keeps two runs out of one output folder without ever leaving a stale lock behind.
#pragma once
#include <napi.h>

namespace bert::addon {

/** lockFile(path): the open descriptor holding the lock, or -1 when another process holds it. */
Napi::Value lock_file(const Napi::CallbackInfo& info);
/** unlockFile(fd, path): removes the lock file and releases the lock. */
Napi::Value unlock_file(const Napi::CallbackInfo& info);

}  // namespace bert::addon
