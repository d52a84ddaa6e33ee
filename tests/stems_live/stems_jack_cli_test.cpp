// `earshot stems --jack` end to end: it announces its ports and latency, stops cleanly on
// Ctrl-C, and a server killed under it gives one clear line and exit status 1, never a hang.
#include "tests/backends/jack_test_support.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/stems_live/stems_test_util.hpp"

#include <gtest/gtest.h>

namespace earshot::test {
namespace {

bool wait_for_text(const Subprocess& p, const std::string& text, double seconds) {
  return wait_for([&] { return p.err().find(text) != std::string::npos; }, seconds);
}

TEST(StemsJackCli, AnnouncesPortsAndLatencyAndStopsOnInterrupt) {
  JackServer server(44100, 256);
  ASSERT_TRUE(server.ready());
  Subprocess p({earshot_binary(), "stems", "--jack", "--model", small4_dir()});
  ASSERT_TRUE(wait_for_text(p, "Ctrl-C to stop", 30.0)) << p.err();
  const std::string err = p.err();
  EXPECT_NE(err.find("earshot-stems:in_L"), std::string::npos) << err;
  EXPECT_NE(err.find("earshot-stems:vocals_R"), std::string::npos) << err;
  // small4: 42997 + 32247 + (2 * 256 + 2205) frames.
  EXPECT_NE(err.find("latency 77961 frames"), std::string::npos) << err;
  p.signal(SIGINT);
  EXPECT_EQ(p.wait(20.0), 0) << p.err();
}

TEST(StemsJackCli, ServerKilledGivesAClearMessage) {
  JackServer server(44100, 256);
  ASSERT_TRUE(server.ready());
  Subprocess p({earshot_binary(), "stems", "--jack", "--model", small4_dir()});
  ASSERT_TRUE(wait_for_text(p, "Ctrl-C to stop", 30.0)) << p.err();
  server.kill(SIGKILL);
  EXPECT_EQ(p.wait(20.0), 1) << p.err();
  EXPECT_NE(p.err().find("the JACK server shut down"), std::string::npos) << p.err();
}

TEST(StemsJackCli, NoServerIsOneClearError) {
  ::setenv("JACK_DEFAULT_SERVER", "earshot-no-such-server", 1);
  Subprocess p({earshot_binary(), "stems", "--jack", "--model", small4_dir()});
  EXPECT_EQ(p.wait(30.0), 1);
  EXPECT_NE(p.err().find("no JACK server 'earshot-no-such-server"), std::string::npos) << p.err();
}

}  // namespace
}  // namespace earshot::test
