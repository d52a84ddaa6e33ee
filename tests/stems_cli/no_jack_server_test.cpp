// `earshot stems --jack` and `earshot deck --jack` without a JACK server: exit status 1 and
// exactly one line on stderr that says what to do (libjack's own chatter is kept quiet).
#include "tests/stems_live/stems_test_util.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace earshot::test {
namespace {

// Runs `earshot ARGS` against a server name nobody runs; returns {exit status, stderr}.
std::pair<int, std::string> run_without_server(const std::string& args) {
  const std::string err = (std::filesystem::temp_directory_path() /
                           ("earshot_nojack_" + std::to_string(::getpid()) + ".txt"))
                              .string();
  const std::string cmd = "JACK_DEFAULT_SERVER=earshot-no-such-server-" +
                          std::to_string(::getpid()) + " " + earshot_binary() + " " + args + " 2>" +
                          err;
  const int status = std::system(cmd.c_str());
  std::ifstream in(err);
  std::string text{std::istreambuf_iterator<char>(in), {}};
  std::filesystem::remove(err);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

TEST(NoJackServer, StemsJackIsOneClearLine) {
  const auto [status, err] = run_without_server("stems --jack --model " + small4_dir());
  EXPECT_EQ(status, 1);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("no JACK server 'earshot-no-such-server"), std::string::npos) << err;
  EXPECT_NE(err.find("jackd"), std::string::npos) << err;
}

TEST(NoJackServer, DeckIsOneClearLine) {
  const auto [status, err] = run_without_server(
      "deck " + fixture("audio/music_44k_stereo.wav").string() + " --jack --model " + small4_dir());
  EXPECT_EQ(status, 1);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("no JACK server 'earshot-no-such-server"), std::string::npos) << err;
}

TEST(NoJackServer, DeckWithAMissingSongNamesTheFile) {
  const auto [status, err] =
      run_without_server("deck /nonexistent/song.flac --jack --model " + small4_dir());
  EXPECT_EQ(status, 1);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("/nonexistent/song.flac"), std::string::npos) << err;
}

}  // namespace
}  // namespace earshot::test
