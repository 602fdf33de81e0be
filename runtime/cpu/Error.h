// Error.h - the thread-local last-error message behind eert_last_error.
#ifndef EERT_CPU_ERROR_H
#define EERT_CPU_ERROR_H

#include <cstdint>
#include <string>

namespace eert {

/// Records `message` as this thread's last error and returns the failure status.
int32_t fail(std::string message);

} // namespace eert

#endif // EERT_CPU_ERROR_H
