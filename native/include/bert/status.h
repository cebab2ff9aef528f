// Status: how the core reports failure. The core never throws across its API and never exits; the addon turns a
// failed Status into a JS error whose `code` is the stable string of StatusCode.
#pragma once
#include <string>
#include <utility>

namespace bert {

enum class StatusCode {
  kOk = 0,
  kInvalidConfig,    // a model config value that cannot work (heads not dividing hidden, ...)
  kInvalidArgument,  // a batch or call argument that disagrees with the model (ids out of range, shapes, ...)
  kOutOfMemory,      // an allocation failed
  kBackendError,     // oneDNN (or a future backend) refused a primitive
  kNotFound,         // a parameter name that does not exist
  kNonFinite,        // a NaN or Inf where none may be
  kCommunication,    // MPI (or the plugin that brings it) failed
  kUnavailable,      // a device that this build or machine does not have (--device cuda without a GPU)
};

inline const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidConfig:
      return "ERR_INVALID_CONFIG";
    case StatusCode::kInvalidArgument:
      return "ERR_INVALID_ARGUMENT";
    case StatusCode::kOutOfMemory:
      return "ERR_OUT_OF_MEMORY";
    case StatusCode::kBackendError:
      return "ERR_BACKEND";
    case StatusCode::kNotFound:
      return "ERR_NOT_FOUND";
    case StatusCode::kNonFinite:
      return "ERR_NON_FINITE";
    case StatusCode::kCommunication:
      return "ERR_COMMUNICATION";
    case StatusCode::kUnavailable:
      return "ERR_DEVICE_UNAVAILABLE";
  }
  return "ERR_UNKNOWN";
}

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

#define BERT_RETURN_IF_ERROR(expr)        \
  do {                                    \
    ::bert::Status status_ = (expr);      \
    if (!status_.is_ok()) return status_; \
  } while (0)

}  // namespace bert
