#include "addon/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace bert::addon {
namespace {

Napi::Error errno_error(Napi::Env env, const std::string& path, int err) {
  Napi::Error e = Napi::Error::New(env, path + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, "ERR_FILE_LOCK"));
  e.Set("errno_code", Napi::Number::New(env, err));
  return e;
}

/** The descriptor still names the file at `path` (a holder that just released it may have removed it). */
bool still_linked(int fd, const std::string& path) {
  struct stat held {
  }, named{};
  return fstat(fd, &held) == 0 && stat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
         held.st_dev == named.st_dev;
}

}  // namespace

Napi::Value lock_file(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  for (;;) {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw errno_error(env, path, errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      close(fd);
      if (err == EWOULDBLOCK) return Napi::Number::New(env, -1);
      throw errno_error(env, path, err);
    }
    if (still_linked(fd, path)) return Napi::Number::New(env, fd);
    close(fd);  // locked a file its holder removed on release: take the one now at `path`
  }
}

Napi::Value unlock_file(const Napi::CallbackInfo& info) {
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const std::string path = info[1].As<Napi::String>().Utf8Value();
  unlink(path.c_str());  // while still holding it, so nobody locks a file about to vanish
  close(fd);
  return info.Env().Undefined();
}

}  // namespace bert::addon
