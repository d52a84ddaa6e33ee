// Helpers shared by the test suites: where the fixtures are, running the earshot command.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace earshot::test {

// ../shared/fixtures beside the checkout, or $EARSHOT_FIXTURES when set.
inline std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("EARSHOT_FIXTURES"); env != nullptr && *env != '\0') return env;
  return EARSHOT_FIXTURES_DIR;
}

inline std::filesystem::path fixture(const std::string& relative) {
  return fixtures_dir() / relative;
}

// The earshot binary built alongside the tests.
inline std::string earshot_binary() {
  return EARSHOT_BINARY;
}

struct CommandRun {
  int status = -1;  // exit status, or 128 + signal
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `[prefix] earshot <args>` through the shell (args are shell words: quote paths yourself)
// and captures both streams. `prefix` is for wrappers such as "timeout 300".
inline CommandRun run_earshot(const std::string& args, const std::string& prefix = "") {
  static std::atomic<int> counter{0};
  const std::filesystem::path err_file =
      std::filesystem::temp_directory_path() /
      ("earshot_test_stderr_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string command = (prefix.empty() ? "" : prefix + " ") + earshot_binary() + " " + args +
                              " 2>" + err_file.string();
  CommandRun r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  std::filesystem::remove(err_file);
  return r;
}

}  // namespace earshot::test
