// Shared helpers of the fuzz targets: a private scratch directory for readers that take paths,
// splitting one input into several files, and the fixture directory.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace earshot::fuzz {

// One directory per fuzzer process (libFuzzer's -jobs/-fork run several), removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base =
        std::filesystem::temp_directory_path() / ("earshot-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(base);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return base;
  }();
  return dir;
}

// Writes bytes to scratch_dir()/name (truncating) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();  // the harness itself failed: not a finding about the reader
  return path;
}

inline std::string_view as_chars(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits the input at NUL bytes into at most `parts` pieces (the last takes the rest), so one
// fuzz input can carry several files; missing pieces are empty. Text formats never hold a NUL.
inline std::vector<std::string_view> split_parts(std::string_view input, std::size_t parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    const std::size_t nul = input.find('\0');
    if (nul == std::string_view::npos) break;
    out.push_back(input.substr(0, nul));
    input.remove_prefix(nul + 1);
  }
  out.push_back(input);
  out.resize(parts);
  return out;
}

// The golden fixtures: $EARSHOT_FIXTURES, else the directory configured at build time.
inline std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("EARSHOT_FIXTURES"); env != nullptr && *env != '\0') return env;
  return EARSHOT_FUZZ_FIXTURES;
}

}  // namespace earshot::fuzz
