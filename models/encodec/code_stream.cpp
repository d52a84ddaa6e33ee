#include "models/encodec/code_stream.hpp"

#include <nlohmann/json.hpp>

#include <limits>

namespace earshot::encodec {

FrameFraming parse_framing(const std::string& name) {
  if (name == "i16") return FrameFraming::kInt16;
  if (name == "i32") return FrameFraming::kInt32;
  if (name == "jsonl") return FrameFraming::kJsonLines;
  throw CodeFileError("unknown code framing '" + name + "' (use i16, i32 or jsonl)");
}

CodeFrameReader::CodeFrameReader(std::FILE* file, FrameFraming framing, int n_q, std::string label)
    : file_(file), framing_(framing), n_q_(n_q), label_(std::move(label)) {}

std::int64_t CodeFrameReader::read(std::int64_t max_frames, std::vector<std::int32_t>& out) {
  if (framing_ != FrameFraming::kJsonLines) {
    // One frame at a time, so each is pushed as soon as it has arrived.
    const int width = framing_ == FrameFraming::kInt16 ? 2 : 4;
    raw_.resize(static_cast<std::size_t>(n_q_ * width));
    const std::size_t got = std::fread(raw_.data(), 1, raw_.size(), file_);
    if (got == 0) return 0;
    if (got != raw_.size()) {
      throw CodeFileError(label_ + ": stream ended inside frame " + std::to_string(frames_read_) +
                          " (" + std::to_string(got) + " of " + std::to_string(raw_.size()) +
                          " bytes)");
    }
    for (int q = 0; q < n_q_; ++q) {
      const unsigned char* p = raw_.data() + q * width;
      if (width == 2) {
        out.push_back(static_cast<std::int16_t>(p[0] | (p[1] << 8)));
      } else {
        out.push_back(static_cast<std::int32_t>(
            static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
            (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24)));
      }
    }
    ++frames_read_;
    return 1;
  }
  while (pending_.empty()) {
    std::string line;
    int c;
    while ((c = std::fgetc(file_)) != EOF && c != '\n') line += static_cast<char>(c);
    if (line.empty() && c == EOF) return 0;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw CodeFileError(label_ + ": line after frame " + std::to_string(frames_read_) +
                          " is not JSON");
    }
    auto frame = [&](const nlohmann::json& a) {
      if (!a.is_array() || static_cast<int>(a.size()) != n_q_) {
        throw CodeFileError(label_ + ": frame " +
                            std::to_string(frames_read_ + pending_.size() / n_q_) +
                            " is not an array of " + std::to_string(n_q_) + " codes");
      }
      for (const auto& v : a) {
        if (!v.is_number_integer()) throw CodeFileError(label_ + ": a code is not an integer");
        const auto x = v.get<std::int64_t>();
        pending_.push_back(x < std::numeric_limits<std::int32_t>::min() ||
                                   x > std::numeric_limits<std::int32_t>::max()
                               ? -1
                               : static_cast<std::int32_t>(x));
      }
    };
    if (j.is_array() && !j.empty() && j[0].is_array()) {
      for (const auto& a : j) frame(a);
    } else {
      frame(j);
    }
  }
  const std::int64_t available = static_cast<std::int64_t>(pending_.size()) / n_q_;
  const std::int64_t n = std::min(available, max_frames);
  out.insert(out.end(), pending_.begin(), pending_.begin() + n * n_q_);
  pending_.erase(pending_.begin(), pending_.begin() + n * n_q_);
  frames_read_ += n;
  return n;
}

}  // namespace earshot::encodec
