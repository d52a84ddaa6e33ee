#include "rt/backends/audio_backend.hpp"

#include <cstring>

namespace earshot::rt {

void AudioBackend::mark_finished(const char* message, bool failure) noexcept {
  // The first reason wins: a server shutdown must not be overwritten by the "stopped" that
  // follows it. The message is published before the flag (release), read after it (acquire).
  bool expected = false;
  if (!finishing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return;
  std::strncpy(finish_message_, message, sizeof(finish_message_) - 1);
  finish_message_[sizeof(finish_message_) - 1] = '\0';
  failed_.store(failure, std::memory_order_release);
  finished_.store(true, std::memory_order_release);
}

}  // namespace earshot::rt
