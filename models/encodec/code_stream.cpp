#include "models/encodec/code_stream.hpp"

#include <nlohmann/json.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace earshot::encodec {

namespace {
constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
constexpr int kPollSliceMs = 50;  // how quickly a set stop flag is noticed while waiting
}  // namespace

FrameFraming parse_framing(const std::string& name) {
  if (name == "i16") return FrameFraming::kInt16;
  if (name == "i32") return FrameFraming::kInt32;
  if (name == "jsonl") return FrameFraming::kJsonLines;
  throw CodeFileError("unknown code framing '" + name + "' (use i16, i32 or jsonl)");
}

CodeFrameReader::CodeFrameReader(std::FILE* file, FrameFraming framing, int n_q, std::string label)
    : file_(file), framing_(framing), n_q_(n_q), label_(std::move(label)) {
  if (n_q < 1) throw CodeFileError(label_ + ": a frame needs at least one codebook");
}

CodeFrameReader::CodeFrameReader(int fd, FrameFraming framing, int n_q, std::string label,
                                 const std::atomic<bool>* stop)
    : fd_(fd), stop_(stop), framing_(framing), n_q_(n_q), label_(std::move(label)) {
  if (n_q < 1) throw CodeFileError(label_ + ": a frame needs at least one codebook");
  buffer_.resize(4096);
}

int CodeFrameReader::next_byte() {
  if (file_ != nullptr) {
    const int c = std::fgetc(file_);
    return c == EOF ? -1 : c;
  }
  while (buffer_pos_ == buffer_end_) {
    if (stopped_) return -1;
    if (stop_ != nullptr && stop_->load(std::memory_order_acquire)) {
      stopped_ = true;
      return -1;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollSliceMs);
    if (ready < 0 && errno != EINTR) {
      throw CodeFileError(label_ + ": cannot wait for input: " + std::strerror(errno));
    }
    if (ready <= 0) continue;
    const ssize_t got = ::read(fd_, buffer_.data(), buffer_.size());
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw CodeFileError(label_ + ": read failed: " + std::strerror(errno));
    }
    if (got == 0) return -1;
    buffer_pos_ = 0;
    buffer_end_ = static_cast<std::size_t>(got);
  }
  return buffer_[buffer_pos_++];
}

void CodeFrameReader::check_range(const std::int32_t* frame, std::int64_t index) const {
  if (codebook_size_ <= 0) return;
  for (int q = 0; q < n_q_; ++q) {
    if (frame[q] < 0 || frame[q] >= codebook_size_) {
      throw CodeFileError(label_ + ": frame " + std::to_string(index) + ", codebook " +
                          std::to_string(q) + ": code " + std::to_string(frame[q]) +
                          " is outside [0, " + std::to_string(codebook_size_) +
                          ") (wrong framing or number of codebooks?)");
    }
  }
}

// One frame at a time, so each is pushed as soon as it has arrived.
std::int64_t CodeFrameReader::read_binary(std::vector<std::int32_t>& out) {
  const int width = framing_ == FrameFraming::kInt16 ? 2 : 4;
  const std::size_t bytes = static_cast<std::size_t>(n_q_) * static_cast<std::size_t>(width);
  unsigned char raw[4];
  const std::size_t start = out.size();
  for (std::size_t i = 0; i < bytes; ++i) {
    const int c = next_byte();
    if (c < 0) {
      out.resize(start);
      if (i == 0 || stopped_) return 0;
      throw CodeFileError(label_ + ": stream ended inside frame " + std::to_string(frames_read_) +
                          " (" + std::to_string(i) + " of " + std::to_string(bytes) + " bytes)");
    }
    raw[i % width] = static_cast<unsigned char>(c);
    if (i % width != static_cast<std::size_t>(width - 1)) continue;
    if (width == 2) {
      out.push_back(static_cast<std::int16_t>(raw[0] | (raw[1] << 8)));
    } else {
      out.push_back(static_cast<std::int32_t>(
          static_cast<std::uint32_t>(raw[0]) | (static_cast<std::uint32_t>(raw[1]) << 8) |
          (static_cast<std::uint32_t>(raw[2]) << 16) | (static_cast<std::uint32_t>(raw[3]) << 24)));
    }
  }
  check_range(out.data() + start, frames_read_);
  ++frames_read_;
  return 1;
}

bool CodeFrameReader::read_json_line() {
  std::string line;
  int c = 0;
  while ((c = next_byte()) >= 0 && c != '\n') {
    if (line.size() >= kMaxLineBytes) {
      throw CodeFileError(label_ + ": line after frame " + std::to_string(frames_read_) +
                          " is longer than 1 MiB");
    }
    line += static_cast<char>(c);
  }
  if (line.empty() && c < 0) return false;
  if (stopped_) return false;
  if (line.find_first_not_of(" \t\r") == std::string::npos) return true;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw CodeFileError(label_ + ": line after frame " + std::to_string(frames_read_) +
                        " is not JSON");
  }
  auto frame = [&](const nlohmann::json& a) {
    const std::int64_t index = frames_read_ + static_cast<std::int64_t>(pending_.size()) / n_q_;
    if (!a.is_array() || static_cast<int>(a.size()) != n_q_) {
      throw CodeFileError(label_ + ": frame " + std::to_string(index) + " is not an array of " +
                          std::to_string(n_q_) + " codes");
    }
    const std::size_t start = pending_.size();
    for (const auto& v : a) {
      if (!v.is_number_integer()) {
        throw CodeFileError(label_ + ": frame " + std::to_string(index) +
                            ": a code is not an integer");
      }
      const auto x = v.get<std::int64_t>();
      pending_.push_back(x < std::numeric_limits<std::int32_t>::min() ||
                                 x > std::numeric_limits<std::int32_t>::max()
                             ? -1
                             : static_cast<std::int32_t>(x));
    }
    check_range(pending_.data() + start, index);
  };
  if (j.is_array() && !j.empty() && j[0].is_array()) {
    for (const auto& a : j) frame(a);
  } else {
    frame(j);
  }
  return true;
}

std::int64_t CodeFrameReader::read(std::int64_t max_frames, std::vector<std::int32_t>& out) {
  if (max_frames < 1) return 0;
  if (framing_ != FrameFraming::kJsonLines) return read_binary(out);
  while (pending_.empty()) {
    if (!read_json_line()) return 0;
  }
  const std::int64_t available = static_cast<std::int64_t>(pending_.size()) / n_q_;
  const std::int64_t n = std::min(available, max_frames);
  out.insert(out.end(), pending_.begin(), pending_.begin() + n * n_q_);
  pending_.erase(pending_.begin(), pending_.begin() + n * n_q_);
  frames_read_ += n;
  return n;
}

}  // namespace earshot::encodec
