// Reading a live stream of code frames (for `earshot codec play`) from a file or a pipe.
//
// Framings (chosen by the caller; the stream carries no header):
//   i16   binary: each frame is n_q little-endian int16 codes, codebook 0 first, nothing between
//         frames (n_q * 2 bytes per frame);
//   i32   the same with little-endian int32 codes (n_q * 4 bytes per frame);
//   jsonl one JSON array per line: [c0, ..., c(n_q-1)] for one frame, or [[...], [...]] for
//         several frames; blank lines are ignored.
// A partial binary frame at the end of the stream, a line that is not such an array, or a frame
// with the wrong number of codes is a CodeFileError naming the frame; codes out of range are
// caught by the decoder.
#pragma once

#include "models/encodec/npy_format.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace earshot::encodec {

enum class FrameFraming { kInt16, kInt32, kJsonLines };

// Throws CodeFileError unless `name` is i16, i32 or jsonl.
FrameFraming parse_framing(const std::string& name);

class CodeFrameReader {
 public:
  // `file` stays owned by the caller (stdin works).
  CodeFrameReader(std::FILE* file, FrameFraming framing, int n_q, std::string label);

  // Blocks until at least one frame (or the end) arrives; appends up to `max_frames` frames,
  // frame-major, to `out`. Returns the frames read; 0 at the end of the stream.
  std::int64_t read(std::int64_t max_frames, std::vector<std::int32_t>& out);
  std::int64_t frames_read() const { return frames_read_; }

 private:
  std::FILE* file_;
  FrameFraming framing_;
  int n_q_;
  std::string label_;
  std::int64_t frames_read_ = 0;
  std::vector<std::int32_t> pending_;  // jsonl: frames of a line not handed out yet
  std::vector<unsigned char> raw_;
};

}  // namespace earshot::encodec
