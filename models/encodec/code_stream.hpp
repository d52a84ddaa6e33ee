// Reading a live stream of code frames (for `earshot codec play`) from a file or a pipe.
//
// Framings (chosen by the caller; the stream carries no header):
//   i16   binary: each frame is n_q little-endian int16 codes, codebook 0 first, nothing between
//         frames (n_q * 2 bytes per frame);
//   i32   the same with little-endian int32 codes (n_q * 4 bytes per frame);
//   jsonl one JSON array per line: [c0, ..., c(n_q-1)] for one frame, or [[...], [...]] for
//         several frames; blank lines are ignored.
// A partial binary frame at the end of the stream, a line that is not such an array (or longer
// than 1 MiB), or a frame with the wrong number of codes is a CodeFileError naming the frame.
// With set_codebook_size(K), a code outside [0, K) is a CodeFileError naming the frame and the
// codebook too (otherwise the decoder catches it). A binary stream cannot say how many codebooks
// a frame has: a wrong count shows as codes out of range or a partial frame at the end.
//
// Two ways in:
//   - a FILE* (tests, fuzzing through fmemopen): reads block until data or the end;
//   - a file descriptor plus a stop flag (the live player): the reader waits with poll() in
//     short slices and gives up (read() returns 0, stopped() is true) once the flag is set, so a
//     player can shut down while its producer keeps a pipe open and silent.
#pragma once

#include "models/encodec/npy_format.hpp"

#include <atomic>
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
  // `fd` stays owned by the caller. `stop` (may be null) ends a wait for data when set.
  CodeFrameReader(int fd, FrameFraming framing, int n_q, std::string label,
                  const std::atomic<bool>* stop);

  // Codes must lie in [0, size) (0: no check here).
  void set_codebook_size(int size) { codebook_size_ = size; }

  // Blocks until at least one frame (or the end) arrives; appends up to `max_frames` frames,
  // frame-major, to `out`. Returns the frames read; 0 at the end of the stream (or when stopped).
  std::int64_t read(std::int64_t max_frames, std::vector<std::int32_t>& out);
  std::int64_t frames_read() const { return frames_read_; }
  bool stopped() const { return stopped_; }

 private:
  // The next byte of the stream, or -1 at its end (or when stopped).
  int next_byte();
  std::int64_t read_binary(std::vector<std::int32_t>& out);
  bool read_json_line();  // false at the end of the stream
  void check_range(const std::int32_t* frame, std::int64_t index) const;

  std::FILE* file_ = nullptr;
  int fd_ = -1;
  const std::atomic<bool>* stop_ = nullptr;
  FrameFraming framing_;
  int n_q_;
  std::string label_;
  int codebook_size_ = 0;
  bool stopped_ = false;
  std::int64_t frames_read_ = 0;
  std::vector<std::int32_t> pending_;  // jsonl: frames of a line not handed out yet
  std::vector<unsigned char> buffer_;  // fd: bytes read but not consumed
  std::size_t buffer_pos_ = 0, buffer_end_ = 0;
};

}  // namespace earshot::encodec
