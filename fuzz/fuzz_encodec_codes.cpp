// Feeds arbitrary bytes to the EnCodec code-file readers: decode_codes (.npy, .npz, .ecdc)
// against the 24 kHz and the 48 kHz (chunked, normalizing) fixture configs, and the .npy / zip
// layers under them. Each must accept the bytes or throw CodeFileError. Whatever decode_codes
// accepts must be internally consistent: every chunk holds n_q * frames codes in range.
//   data[0] % 8: 0-5 decode_codes (format = % 3, config = / 3), 6 npy, 7 zip of npy entries.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/fuzz_support.hpp"
#include "models/encodec/codes_file.hpp"
#include "models/encodec/encodec_config.hpp"

namespace {

using namespace earshot::encodec;

const EncodecConfig& config(int which) {
  static const EncodecConfig configs[2] = {
      load_encodec_config(earshot::fuzz::fixtures_dir() / "encodec/24khz-random"),
      load_encodec_config(earshot::fuzz::fixtures_dir() / "encodec/48khz-random")};
  return configs[which];
}

void check_accepted(const EncodedAudio& encoded, const EncodecConfig& cfg) {
  for (const CodeChunk& chunk : encoded.chunks) {
    if (chunk.frames < 0 ||
        chunk.codes.size() != static_cast<std::size_t>(chunk.frames) * encoded.n_q) {
      __builtin_trap();  // a chunk whose size disagrees with its shape
    }
    for (std::int32_t code : chunk.codes) {
      if (code < 0 || code >= cfg.codebook_size) __builtin_trap();  // unchecked code
    }
  }
}

void touch_npy(const NpyArray& array) {
  try {
    (void)npy_to_i32(array, "fuzz.npy");
  } catch (const CodeFileError&) {
  }
  try {
    (void)npy_to_i64(array, "fuzz.npy");
  } catch (const CodeFileError&) {
  }
  try {
    (void)npy_to_f32(array, "fuzz.npy");
  } catch (const CodeFileError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)config(0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  const int mode = data[0] % 8;
  try {
    if (mode < 6) {
      static constexpr CodesFormat kFormats[3] = {CodesFormat::kNpy, CodesFormat::kNpz,
                                                  CodesFormat::kEcdc};
      const EncodecConfig& cfg = config(mode / 3);
      check_accepted(decode_codes(bytes, cfg, kFormats[mode % 3], "fuzz"), cfg);
    } else if (mode == 6) {
      touch_npy(npy_decode(bytes, "fuzz.npy"));
    } else {
      for (const auto& [name, member] : zip_read_stored(bytes, "fuzz.npz")) {
        try {
          touch_npy(npy_decode(member, name));
        } catch (const CodeFileError&) {
        }
      }
    }
  } catch (const CodeFileError&) {
  }
  return 0;
}
