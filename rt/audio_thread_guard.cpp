#include "rt/audio_thread_guard.hpp"

#include <pthread.h>

#include <atomic>

namespace earshot::rt {
namespace {

// A trivially initialised thread_local (no guard variable, no constructor) in the initial-exec
// model, so reading it from inside malloc never calls into the dynamic loader or allocates.
__attribute__((tls_model("initial-exec"))) constinit thread_local bool t_audio_thread = false;
__attribute__((tls_model("initial-exec"))) constinit thread_local bool t_named = false;

std::atomic<std::uint64_t> g_violations{0};
std::atomic<const char*> g_first_violation{nullptr};
std::atomic<unsigned> g_capabilities{0};

}  // namespace

void enter_audio_thread() noexcept {
  if (t_audio_thread) return;
  if (!t_named) {
    // 15 characters at most (the kernel's TASK_COMM_LEN); for the calling thread glibc uses
    // prctl(PR_SET_NAME): no allocation, no lock.
    pthread_setname_np(pthread_self(), "earshot-rt");
    t_named = true;
  }
  t_audio_thread = true;
}

void leave_audio_thread() noexcept {
  t_audio_thread = false;
}

bool is_audio_thread() noexcept {
  return t_audio_thread;
}

namespace guard {

unsigned capabilities() noexcept {
  return g_capabilities.load(std::memory_order_acquire);
}

std::uint64_t violations() noexcept {
  return g_violations.load(std::memory_order_acquire);
}

const char* first_violation() noexcept {
  return g_first_violation.load(std::memory_order_acquire);
}

const char* first_violation_or_none() noexcept {
  const char* first = first_violation();
  return first != nullptr ? first : "none";
}

void reset() noexcept {
  g_first_violation.store(nullptr, std::memory_order_release);
  g_violations.store(0, std::memory_order_release);
}

void record_violation(const char* function) noexcept {
  const char* expected = nullptr;
  g_first_violation.compare_exchange_strong(expected, function, std::memory_order_acq_rel);
  g_violations.fetch_add(1, std::memory_order_acq_rel);
}

void set_capabilities(unsigned capabilities) noexcept {
  g_capabilities.store(capabilities, std::memory_order_release);
}

}  // namespace guard
}  // namespace earshot::rt
