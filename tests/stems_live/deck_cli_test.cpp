// `earshot deck FILE --jack` end to end: the banner with its ports, the time to the first
// stems, a clean exit on Ctrl-C, and clear errors without --jack or without a server.
#include "tests/backends/jack_test_support.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/stems_live/stems_test_util.hpp"

#include <gtest/gtest.h>

namespace earshot::test {
namespace {

const std::string kSong = fixture("audio/music_44k_stereo.wav").string();

TEST(DeckCli, ReportsTimeToFirstStemsAndStopsOnInterrupt) {
  JackServer server(44100, 256);
  ASSERT_TRUE(server.ready());
  Subprocess p({earshot_binary(), "deck", kSong, "--jack", "--model", small4_dir()});
  ASSERT_TRUE(
      wait_for([&] { return p.err().find("first stems ready after") != std::string::npos; }, 60.0))
      << p.err();
  EXPECT_NE(p.err().find("earshot-deck:master_L"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("earshot-deck:vocals_R"), std::string::npos) << p.err();
  p.signal(SIGINT);
  EXPECT_EQ(p.wait(20.0), 0) << p.err();
}

TEST(DeckCli, ClearErrors) {
  Subprocess no_jack({earshot_binary(), "deck", kSong, "--model", small4_dir()});
  EXPECT_EQ(no_jack.wait(30.0), 1);
  EXPECT_NE(no_jack.err().find("add --jack"), std::string::npos) << no_jack.err();
  ::setenv("JACK_DEFAULT_SERVER", "earshot-no-such-server", 1);
  Subprocess no_server({earshot_binary(), "deck", kSong, "--jack", "--model", small4_dir()});
  EXPECT_EQ(no_server.wait(30.0), 1);
  EXPECT_NE(no_server.err().find("no JACK server 'earshot-no-such-server"), std::string::npos)
      << no_server.err();
}

}  // namespace
}  // namespace earshot::test
