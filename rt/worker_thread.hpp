// A worker thread created once, woken by the audio thread through a semaphore.
//
// The audio callback copies a period into a ring and calls wake(); the worker runs `work` once
// per wake, pulling whatever is in the ring (so a wake that finds nothing to do is harmless).
// wake() is a sem_post: it never allocates, locks or blocks, so it is allowed on the audio
// thread. Everything that allocates (the thread, its name, the std::function) happens in the
// constructor, before audio starts.
//
// `work` runs on the worker thread only. If it throws, the worker stops running it and keeps
// the exception; the control thread finds it with failed()/rethrow_if_failed().
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "rt/semaphore.hpp"

namespace earshot::rt {

class WorkerThread {
 public:
  // Starts the thread, named `name` (at most 15 characters are kept, the kernel's limit).
  WorkerThread(std::string name, std::function<void()> work);
  // Stops and joins (see stop()).
  ~WorkerThread();
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // Audio-thread safe: asks for one more run of `work`.
  void wake() noexcept { wake_.post(); }

  // Lets the run in progress (if any) finish, drops pending wakes, joins. Idempotent; not for
  // the audio thread (it waits for the worker).
  void stop();

  // Completed runs of `work` (acquire: what a run wrote is visible once it is counted).
  std::uint64_t runs() const noexcept { return runs_.load(std::memory_order_acquire); }

  // True once `work` has thrown; the worker then ignores further wakes.
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  // Rethrows what `work` threw, if it did. Control thread.
  void rethrow_if_failed() const;

 private:
  void loop();

  std::string name_;
  std::function<void()> work_;
  Semaphore wake_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> runs_{0};
  std::exception_ptr error_;  // written by the worker before failed_ is set
  std::thread thread_;        // last: starts after every member above exists
};

}  // namespace earshot::rt
