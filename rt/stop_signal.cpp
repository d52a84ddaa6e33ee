#include "rt/stop_signal.hpp"

#include <csignal>

namespace earshot::rt {

static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

namespace {
std::atomic<bool> g_stop_requested{false};

extern "C" void earshot_request_stop(int) {
  g_stop_requested.store(true, std::memory_order_relaxed);
}
}  // namespace

struct ScopedStopSignal::Saved {
  struct sigaction interrupt {};
  struct sigaction terminate {};
};

ScopedStopSignal::ScopedStopSignal() : saved_(new Saved) {
  g_stop_requested.store(false);
  struct sigaction action {};
  action.sa_handler = &earshot_request_stop;
  sigemptyset(&action.sa_mask);
  // SA_RESTART, as std::signal gives on glibc: the signal may land on any thread (a JACK or
  // PortAudio thread, a libsndfile read), and their blocking calls must resume instead of
  // failing with EINTR. Run loops poll the flag with timeouts, so none needs to be woken.
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &saved_->interrupt);
  sigaction(SIGTERM, &action, &saved_->terminate);
}

ScopedStopSignal::~ScopedStopSignal() {
  sigaction(SIGINT, &saved_->interrupt, nullptr);
  sigaction(SIGTERM, &saved_->terminate, nullptr);
  delete saved_;
}

std::atomic<bool>& ScopedStopSignal::flag() {
  return g_stop_requested;
}

}  // namespace earshot::rt
