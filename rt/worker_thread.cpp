#include "rt/worker_thread.hpp"

#include <pthread.h>

#include <utility>

namespace earshot::rt {

WorkerThread::WorkerThread(std::string name, std::function<void()> work)
    : name_(std::move(name)), work_(std::move(work)), thread_([this] { loop(); }) {}

WorkerThread::~WorkerThread() {
  stop();
}

void WorkerThread::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  wake_.post();
  thread_.join();
}

void WorkerThread::rethrow_if_failed() const {
  if (failed()) std::rethrow_exception(error_);
}

void WorkerThread::loop() {
  const std::string short_name = name_.substr(0, 15);
  pthread_setname_np(pthread_self(), short_name.c_str());
  for (;;) {
    wake_.wait();
    if (stopping_.load(std::memory_order_acquire)) return;
    if (failed_.load(std::memory_order_relaxed)) continue;
    try {
      work_();
    } catch (...) {
      error_ = std::current_exception();
      failed_.store(true, std::memory_order_release);
      continue;
    }
    runs_.fetch_add(1, std::memory_order_acq_rel);
  }
}

}  // namespace earshot::rt
