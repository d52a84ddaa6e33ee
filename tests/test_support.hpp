// Helpers shared by the test suites: where the fixtures are, running the earshot command.
#pragma once

#include <cstdlib>
#include <filesystem>
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

}  // namespace earshot::test
