#include "rt/stop_signal.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace earshot::rt {
namespace {

int g_previous_handler_calls = 0;
extern "C" void count_previous(int) {
  ++g_previous_handler_calls;
}

TEST(ScopedStopSignal, SignalSetsTheFlagAndTheOldHandlerComesBack) {
  auto before = std::signal(SIGTERM, count_previous);
  {
    ScopedStopSignal stop;
    EXPECT_FALSE(stop.requested());
    std::raise(SIGINT);
    EXPECT_TRUE(stop.requested());
    EXPECT_TRUE(ScopedStopSignal::flag().load());
  }
  {
    ScopedStopSignal again;  // a new run starts with a cleared flag
    EXPECT_FALSE(again.requested());
    std::raise(SIGTERM);
    EXPECT_TRUE(again.requested());
  }
  EXPECT_EQ(g_previous_handler_calls, 0);
  std::raise(SIGTERM);  // restored: our counting handler, not the stop flag
  EXPECT_EQ(g_previous_handler_calls, 1);
  std::signal(SIGTERM, before);
}

TEST(ScopedStopSignal, InterruptedSystemCallsRestart) {
  // Libraries' threads (libjack, PortAudio, libsndfile) must not see EINTR because of a Ctrl-C.
  ScopedStopSignal stop;
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction now {};
    ASSERT_EQ(sigaction(sig, nullptr, &now), 0);
    EXPECT_NE(now.sa_flags & SA_RESTART, 0) << sig;
  }
}

}  // namespace
}  // namespace earshot::rt
