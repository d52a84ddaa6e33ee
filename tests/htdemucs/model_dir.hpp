// A scratch copy of the small4 model directory for tests: config.json edited at will, weights
// linked, or rewritten as F16, or as F32 holding F16-rounded values (a slightly different model).
#pragma once

#include "models/core/half.hpp"
#include "models/core/json_file.hpp"
#include "models/core/safetensors.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace earshot::htdemucs::test {

namespace fs = std::filesystem;

enum class Weights { Link, F16, F32Rounded };

class ModelDir {
 public:
  ModelDir(const std::function<void(nlohmann::json&)>& edit, Weights weights) {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("earshot_htdemucs_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
    nlohmann::json config =
        models::read_json_file(fs::path(test::model_dir("small4")) / "config.json");
    edit(config);
    std::ofstream(path_ / "config.json") << config.dump(2);
    const fs::path src = fs::absolute(test::model_dir("small4")) / "model.safetensors";
    if (weights == Weights::Link) {
      fs::create_symlink(src, path_ / "model.safetensors");
    } else {
      write_converted(src, path_ / "model.safetensors", weights == Weights::F16);
    }
  }
  ~ModelDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  static void write_converted(const fs::path& src, const fs::path& dst, bool as_f16) {
    const auto file = models::SafetensorsFile::open(src);
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& name : file.names()) {
      const auto values = file.load_f32(name);
      std::string bytes;
      for (float v : values) {
        const std::uint16_t h = models::f32_to_f16(v);
        if (as_f16) {
          bytes.append(reinterpret_cast<const char*>(&h), 2);
        } else {
          const float r = models::f16_to_f32(h);
          bytes.append(reinterpret_cast<const char*>(&r), 4);
        }
      }
      header[name] = {{"dtype", as_f16 ? "F16" : "F32"},
                      {"shape", file.info(name).shape},
                      {"data_offsets", {data.size(), data.size() + bytes.size()}}};
      data += bytes;
    }
    const std::string text = header.dump();
    const std::uint64_t n = text.size();
    std::ofstream out(dst, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << text << data;
  }
  fs::path path_;
};

}  // namespace earshot::htdemucs::test
