#include "rt/backends/audio_thread.hpp"

#include <pthread.h>

namespace earshot::rt {

void mark_current_thread_as_audio() noexcept {
  pthread_setname_np(pthread_self(), "earshot-rt");
}

}  // namespace earshot::rt
