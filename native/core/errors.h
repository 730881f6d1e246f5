// Errors shared by every backend. Kernels throw flexconv::Error; the binding layer turns it
// into the matching JavaScript error class (lib/errors.ts), so a bad argument never aborts
// the process.
#pragma once
#include <stdexcept>
#include <string>

namespace flexconv {

// Keep in sync with ErrorCode in lib/errors.ts (the binding passes the name, not the number).
enum class ErrorCode {
  InvalidArgument,  // a value is out of its allowed range (negative size, bad enum, ...)
  ShapeMismatch,    // tensor shapes do not fit together
  Device,           // wrong device, or the device is unavailable
  OutOfMemory,      // an allocation failed
  Internal,         // a bug in flexconv: please report
};

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument:
      return "ERR_INVALID_ARGUMENT";
    case ErrorCode::ShapeMismatch:
      return "ERR_SHAPE_MISMATCH";
    case ErrorCode::Device:
      return "ERR_DEVICE";
    case ErrorCode::OutOfMemory:
      return "ERR_OUT_OF_MEMORY";
    case ErrorCode::Internal:
      return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Checks that stay on in release builds: they guard memory safety, not just debugging.
#define FLEXCONV_CHECK(cond, code, msg)                  \
  do {                                                   \
    if (!(cond)) throw ::flexconv::Error((code), (msg)); \
  } while (0)

}  // namespace flexconv
