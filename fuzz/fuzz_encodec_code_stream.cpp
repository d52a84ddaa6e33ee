// Feeds an arbitrary byte stream to CodeFrameReader (the live code-frame input of
// `earshot codec play`) through fmemopen: it must hand out whole frames or throw CodeFileError,
// and every read must append exactly frames * n_q codes.
//   data[0] % 3: framing (i16, i32, jsonl); data[1] % 32 + 1: n_q; data[2] % 8 + 1: frames a read.
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "models/encodec/code_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace earshot::encodec;
  if (size < 4) return 0;  // fmemopen needs a non-empty buffer
  static constexpr FrameFraming kFramings[3] = {FrameFraming::kInt16, FrameFraming::kInt32,
                                                FrameFraming::kJsonLines};
  const FrameFraming framing = kFramings[data[0] % 3];
  const int n_q = data[1] % 32 + 1;
  const std::int64_t max_frames = data[2] % 8 + 1;
  std::FILE* file = fmemopen(const_cast<std::uint8_t*>(data + 3), size - 3, "rb");
  if (file == nullptr) __builtin_trap();
  try {
    CodeFrameReader reader(file, framing, n_q, "fuzz stream");
    std::vector<std::int32_t> out;
    for (;;) {
      const std::size_t before = out.size();
      const std::int64_t got = reader.read(max_frames, out);
      if (got < 0 || got > max_frames) __builtin_trap();
      if (out.size() - before != static_cast<std::size_t>(got * n_q)) __builtin_trap();
      if (got == 0) break;
    }
    if (static_cast<std::size_t>(reader.frames_read() * n_q) != out.size()) __builtin_trap();
  } catch (const CodeFileError&) {
  }
  std::fclose(file);
  return 0;
}
