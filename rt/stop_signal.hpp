// Ctrl-C / SIGTERM as a stop request for long-running commands.
//
// Every command that runs until interrupted (monitor, caption, stems --jack, deck, codec play)
// wants the same thing: the first signal sets a flag the run loop polls, so output files are
// finished and the summary printed; the previous handlers come back when the run ends (tests run
// several commands in one process). The handler only stores to a lock-free atomic, which is
// async-signal-safe. Interrupted system calls restart (SA_RESTART): a run loop must poll the
// flag (with a timeout), never count on a blocking call failing with EINTR.
#pragma once

#include <atomic>

namespace earshot::rt {

class ScopedStopSignal {
 public:
  // Clears the flag and installs the handlers for SIGINT and SIGTERM.
  ScopedStopSignal();
  // Restores the handlers that were there before.
  ~ScopedStopSignal();
  ScopedStopSignal(const ScopedStopSignal&) = delete;
  ScopedStopSignal& operator=(const ScopedStopSignal&) = delete;

  // The flag the handler sets; poll it, or hand its address to a run loop.
  static std::atomic<bool>& flag();
  bool requested() const { return flag().load(std::memory_order_relaxed); }

 private:
  struct Saved;
  Saved* saved_;
};

}  // namespace earshot::rt
