#include "rt/semaphore.hpp"

#include <cerrno>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace earshot::rt {

Semaphore::Semaphore(unsigned initial) {
  if (sem_init(&sem_, 0, initial) != 0)
    throw std::system_error(errno, std::generic_category(), "sem_init");
}

Semaphore::~Semaphore() {
  sem_destroy(&sem_);
}

bool Semaphore::post() noexcept {
  return sem_post(&sem_) == 0;
}

void Semaphore::wait() noexcept {
  while (sem_wait(&sem_) != 0) {
    // EINTR: a signal arrived while waiting; wait again.
  }
}

bool Semaphore::try_wait() noexcept {
  while (sem_trywait(&sem_) != 0) {
    if (errno != EINTR) return false;  // EAGAIN: count is zero
  }
  return true;
}

bool Semaphore::wait_for(std::chrono::nanoseconds timeout) noexcept {
  // sem_timedwait takes a CLOCK_REALTIME deadline. sem_clockwait(CLOCK_MONOTONIC) would ignore
  // wall-clock jumps, but ThreadSanitizer (GCC 12) does not intercept it and would then miss
  // the post -> wait synchronisation. A timeout here is a polling interval, so a clock jump
  // costs at most one early or late wake-up.
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  const auto total = std::chrono::nanoseconds(deadline.tv_nsec) + timeout;
  deadline.tv_sec +=
      static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(total).count());
  deadline.tv_nsec = static_cast<long>((total % std::chrono::seconds(1)).count());
  while (sem_timedwait(&sem_, &deadline) != 0) {
    if (errno != EINTR) return false;  // ETIMEDOUT
  }
  return true;
}

int Semaphore::value() const noexcept {
  int value = 0;
  sem_getvalue(&sem_, &value);
  return value;
}

}  // namespace earshot::rt
