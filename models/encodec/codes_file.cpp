#include "models/encodec/codes_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace earshot::encodec {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  std::string tail = s.substr(s.size() - suffix.size());
  std::transform(tail.begin(), tail.end(), tail.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return tail == suffix;
}

int bits_per_code(const EncodecConfig& config) {
  return static_cast<int>(std::ceil(std::log2(static_cast<double>(config.codebook_size))));
}

// Checks the codebook count and every code; errors name the file.
void check_codes(const EncodedAudio& e, const EncodecConfig& config, const std::string& label) {
  try {
    (void)config.bandwidth_for_quantizers(e.n_q);
  } catch (const std::invalid_argument& err) {
    throw CodeFileError(label + ": " + err.what());
  }
  for (std::size_t c = 0; c < e.chunks.size(); ++c) {
    for (std::size_t i = 0; i < e.chunks[c].codes.size(); ++i) {
      const auto code = e.chunks[c].codes[i];
      if (code < 0 || code >= config.codebook_size) {
        throw CodeFileError(label + ": code " + std::to_string(code) + " (chunk " +
                            std::to_string(c) + ", codebook " +
                            std::to_string(i / e.chunks[c].frames) + ", frame " +
                            std::to_string(i % e.chunks[c].frames) + ") is outside [0, " +
                            std::to_string(config.codebook_size) + ")");
      }
    }
    if (config.normalize && !(std::isfinite(e.chunks[c].scale) && e.chunks[c].scale > 0)) {
      throw CodeFileError(label + ": chunk " + std::to_string(c) + " has an invalid scale");
    }
  }
}

// ---- .ecdc -------------------------------------------------------------------------------------

std::vector<std::byte> write_ecdc(const EncodedAudio& e, const EncodecConfig& config) {
  // Key order and spacing as Python's json.dumps of the reference's dict.
  const std::string meta = "{\"m\": \"" + config.reference_name() +
                           "\", \"al\": " + std::to_string(e.audio_length) +
                           ", \"nc\": " + std::to_string(e.n_q) + ", \"lm\": false}";
  std::vector<std::byte> out;
  for (char c : std::string("ECDC")) out.push_back(static_cast<std::byte>(c));
  out.push_back(std::byte{0});
  for (int i = 3; i >= 0; --i)
    out.push_back(static_cast<std::byte>((meta.size() >> (8 * i)) & 0xff));
  for (char c : meta) out.push_back(static_cast<std::byte>(c));
  const int bits = bits_per_code(config);
  for (const auto& chunk : e.chunks) {
    if (config.normalize) {
      std::uint32_t raw;
      std::memcpy(&raw, &chunk.scale, 4);
      for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::byte>((raw >> (8 * i)) & 0xff));
    }
    std::uint64_t acc = 0;
    int acc_bits = 0;
    for (std::int64_t f = 0; f < chunk.frames; ++f) {
      for (int q = 0; q < e.n_q; ++q) {
        acc |= static_cast<std::uint64_t>(chunk.codes[q * chunk.frames + f]) << acc_bits;
        acc_bits += bits;
        while (acc_bits >= 8) {
          out.push_back(static_cast<std::byte>(acc & 0xff));
          acc >>= 8;
          acc_bits -= 8;
        }
      }
    }
    if (acc_bits > 0) out.push_back(static_cast<std::byte>(acc & 0xff));
  }
  return out;
}

EncodedAudio read_ecdc(std::span<const std::byte> b, const EncodecConfig& config,
                       const std::string& label) {
  auto fail = [&](const std::string& what) { return CodeFileError(label + ": " + what); };
  if (b.size() < 9 || std::memcmp(b.data(), "ECDC", 4) != 0)
    throw fail("not an .ecdc file (bad magic)");
  if (static_cast<int>(b[4]) != 0)
    throw fail("unsupported .ecdc version " + std::to_string(int(b[4])));
  std::uint64_t meta_len = 0;
  for (int i = 0; i < 4; ++i) meta_len = (meta_len << 8) | static_cast<std::uint8_t>(b[5 + i]);
  if (meta_len > b.size() - 9) throw fail("truncated .ecdc header");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(reinterpret_cast<const char*>(b.data()) + 9,
                                 reinterpret_cast<const char*>(b.data()) + 9 + meta_len);
  } catch (const nlohmann::json::exception&) {
    throw fail("corrupt .ecdc metadata (not JSON)");
  }
  if (!meta.is_object() || !meta.contains("m") || !meta["m"].is_string() || !meta.contains("al") ||
      !meta["al"].is_number_integer() || !meta.contains("nc") || !meta["nc"].is_number_integer() ||
      !meta.contains("lm") || !meta["lm"].is_boolean()) {
    throw fail("corrupt .ecdc metadata (needs m, al, nc, lm)");
  }
  if (meta["lm"].get<bool>()) {
    throw fail(
        "entropy-coded .ecdc (\"lm\": true) needs the reference's language model; "
        "re-encode with `encodec --no-lm`-style settings or use earshot codec encode");
  }
  const std::string model = meta["m"].get<std::string>();
  if (model != config.reference_name()) {
    throw fail("made with " + model + " but the model directory is " + config.reference_name());
  }
  // Checked before get<>(): a float such as 1e300 would be an unchecked (undefined) cast.
  for (const char* key : {"al", "nc"}) {
    if (!meta.contains(key) || !meta[key].is_number_integer())
      throw fail(std::string("metadata field '") + key + "' is not an integer");
  }
  EncodedAudio e;
  e.audio_length = meta["al"].get<std::int64_t>();
  const std::int64_t nc = meta["nc"].get<std::int64_t>();
  if (e.audio_length <= 0 || e.audio_length > (std::int64_t{1} << 40))
    throw fail("implausible audio length");
  if (nc < 1 || nc > 4096) throw fail("implausible codebook count " + std::to_string(nc));
  e.n_q = static_cast<int>(nc);

  const std::int64_t chunk = config.chunk_length() > 0 ? config.chunk_length() : e.audio_length;
  const std::int64_t stride = config.chunk_length() > 0 ? config.chunk_stride() : e.audio_length;
  const int bits = bits_per_code(config);
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  std::size_t at = 9 + meta_len;
  for (std::int64_t offset = 0; offset < e.audio_length; offset += stride) {
    const std::int64_t samples = std::min(chunk, e.audio_length - offset);
    CodeChunk c;
    c.frames = (samples * config.frame_rate() + config.sampling_rate - 1) / config.sampling_rate;
    if (config.normalize) {
      if (b.size() - at < 4) throw fail("truncated .ecdc (missing a chunk scale)");
      std::uint32_t raw = 0;
      for (int i = 0; i < 4; ++i) raw = (raw << 8) | static_cast<std::uint8_t>(b[at + i]);
      std::memcpy(&c.scale, &raw, 4);
      at += 4;
    }
    const std::uint64_t need_bits = static_cast<std::uint64_t>(c.frames) * e.n_q * bits;
    if ((need_bits + 7) / 8 > b.size() - at) throw fail("truncated .ecdc (stream ended early)");
    c.codes.resize(static_cast<std::size_t>(c.frames * e.n_q));
    std::uint64_t acc = 0;
    int acc_bits = 0;
    for (std::int64_t f = 0; f < c.frames; ++f) {
      for (int q = 0; q < e.n_q; ++q) {
        while (acc_bits < bits) {
          acc |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(b[at++])) << acc_bits;
          acc_bits += 8;
        }
        c.codes[q * c.frames + f] = static_cast<std::int32_t>(acc & mask);
        acc >>= bits;
        acc_bits -= bits;
      }
    }
    e.chunks.push_back(std::move(c));
  }
  return e;
}

// ---- .npy / .npz -------------------------------------------------------------------------------

EncodedAudio read_npy(std::span<const std::byte> b, const EncodecConfig& config,
                      const std::string& label) {
  if (config.normalize) {
    throw CodeFileError(label + ": a .npy holds no chunk scales; the " + config.reference_name() +
                        " model needs .npz (codes + scales) or .ecdc");
  }
  const auto array = npy_decode(b, label);
  auto shape = array.shape;
  if (shape.size() == 3 && shape[0] == 1) shape.erase(shape.begin());  // [1, n_q, frames]
  if (shape.size() != 2) throw CodeFileError(label + ": expected codes of shape [n_q, frames]");
  EncodedAudio e;
  e.n_q = static_cast<int>(std::min<std::int64_t>(shape[0], 1 << 20));
  CodeChunk c;
  c.frames = shape[1];
  c.codes = npy_to_i32(array, label);
  e.chunks.push_back(std::move(c));
  return e;
}

EncodedAudio read_npz(std::span<const std::byte> b, const EncodecConfig& config,
                      const std::string& label) {
  const auto entries = zip_read_stored(b, label);
  auto find = [&](const std::string& key) -> const std::vector<std::byte>* {
    auto it = entries.find(key + ".npy");
    return it == entries.end() ? nullptr : &it->second;
  };
  const auto* codes_bytes = find("codes");
  if (codes_bytes == nullptr) throw CodeFileError(label + ": no 'codes' array in the .npz");
  const auto codes = npy_decode(*codes_bytes, label + ":codes");
  auto shape = codes.shape;
  if (shape.size() == 4 && shape[1] == 1) shape.erase(shape.begin() + 1);  // [chunks, 1, n_q, T]
  if (shape.size() != 3 || shape[0] < 1) {
    throw CodeFileError(label + ": 'codes' must have shape [chunks, n_q, frames]");
  }
  const auto values = npy_to_i32(codes, label + ":codes");
  const std::int64_t chunks = shape[0], n_q = shape[1], frames = shape[2];
  std::vector<float> scales(static_cast<std::size_t>(chunks), 1.0f);
  if (const auto* s = find("scales")) {
    const auto arr = npy_decode(*s, label + ":scales");
    scales = npy_to_f32(arr, label + ":scales");
    if (static_cast<std::int64_t>(scales.size()) != chunks) {
      throw CodeFileError(label + ": 'scales' has " + std::to_string(scales.size()) +
                          " entries for " + std::to_string(chunks) + " chunks");
    }
  } else if (config.normalize) {
    throw CodeFileError(label + ": no 'scales' array; the " + config.reference_name() +
                        " model normalizes each chunk");
  }
  std::int64_t pad = 0;
  if (const auto* p = find("last_frame_pad_length")) {
    const auto v = npy_to_i64(npy_decode(*p, label + ":last_frame_pad_length"), label);
    if (v.size() != 1 || v[0] < 0 || v[0] >= frames) {
      throw CodeFileError(label + ": invalid last_frame_pad_length");
    }
    pad = v[0];
  }
  EncodedAudio e;
  e.n_q = static_cast<int>(std::min<std::int64_t>(n_q, 1 << 20));
  if (const auto* a = find("audio_length")) {
    const auto v = npy_to_i64(npy_decode(*a, label + ":audio_length"), label);
    if (v.size() != 1 || v[0] < 0) throw CodeFileError(label + ": invalid audio_length");
    e.audio_length = v[0];
  }
  for (std::int64_t c = 0; c < chunks; ++c) {
    CodeChunk chunk;
    chunk.frames = c == chunks - 1 ? frames - pad : frames;
    chunk.scale = scales[c];
    for (std::int64_t q = 0; q < n_q; ++q) {
      const auto* row = values.data() + (c * n_q + q) * frames;
      chunk.codes.insert(chunk.codes.end(), row, row + chunk.frames);
    }
    e.chunks.push_back(std::move(chunk));
  }
  return e;
}

std::vector<std::byte> write_npz(const EncodedAudio& e) {
  const std::int64_t frames = e.chunks.front().frames;
  const std::int64_t chunks = static_cast<std::int64_t>(e.chunks.size());
  std::vector<std::int32_t> codes(static_cast<std::size_t>(chunks * e.n_q * frames), 0);
  std::vector<float> scales;
  for (std::int64_t c = 0; c < chunks; ++c) {
    const auto& chunk = e.chunks[c];
    if (chunk.frames > frames) throw CodeFileError("a later chunk has more frames than the first");
    for (int q = 0; q < e.n_q; ++q) {
      std::copy(chunk.codes.begin() + q * chunk.frames,
                chunk.codes.begin() + (q + 1) * chunk.frames,
                codes.begin() + (c * e.n_q + q) * frames);
    }
    scales.push_back(chunk.scale);
  }
  const std::int32_t pad = static_cast<std::int32_t>(frames - e.chunks.back().frames);
  const std::int64_t length = e.audio_length;
  return zip_store({{"codes.npy", npy_encode_i32(codes, {chunks, e.n_q, frames})},
                    {"scales.npy", npy_encode_f32(scales, {chunks})},
                    {"last_frame_pad_length.npy", npy_encode_i32(std::span(&pad, 1), {1})},
                    {"audio_length.npy", npy_encode_i64(std::span(&length, 1), {1})}});
}

}  // namespace

CodesFormat codes_format_for(const std::string& path) {
  if (ends_with(path, ".npy")) return CodesFormat::kNpy;
  if (ends_with(path, ".npz")) return CodesFormat::kNpz;
  if (ends_with(path, ".ecdc")) return CodesFormat::kEcdc;
  throw CodeFileError(path + ": unknown codes format (use .npy, .npz or .ecdc)");
}

std::vector<std::byte> encode_codes(const EncodedAudio& e, const EncodecConfig& config,
                                    CodesFormat format) {
  if (e.chunks.empty()) throw CodeFileError("no codes to write");
  switch (format) {
    case CodesFormat::kNpy:
      if (e.chunks.size() != 1 || config.normalize) {
        throw CodeFileError("the " + config.reference_name() +
                            " model's codes come in chunks with scales: write .npz or .ecdc");
      }
      return npy_encode_i32(e.chunks[0].codes, {e.n_q, e.chunks[0].frames});
    case CodesFormat::kNpz:
      return write_npz(e);
    case CodesFormat::kEcdc:
      return write_ecdc(e, config);
  }
  throw CodeFileError("unknown codes format");
}

EncodedAudio decode_codes(std::span<const std::byte> bytes, const EncodecConfig& config,
                          CodesFormat format, const std::string& label) {
  EncodedAudio e;
  switch (format) {
    case CodesFormat::kNpy:
      e = read_npy(bytes, config, label);
      break;
    case CodesFormat::kNpz:
      e = read_npz(bytes, config, label);
      break;
    case CodesFormat::kEcdc:
      e = read_ecdc(bytes, config, label);
      break;
  }
  if (config.chunk_length() <= 0 && e.chunks.size() != 1) {
    throw CodeFileError(label + ": " + std::to_string(e.chunks.size()) + " chunks, but the " +
                        config.reference_name() + " model does not chunk");
  }
  for (const auto& c : e.chunks) {
    if (c.frames < 1) throw CodeFileError(label + ": a chunk has no frames");
  }
  check_codes(e, config, label);
  return e;
}

void save_codes(const std::string& path, const EncodedAudio& encoded, const EncodecConfig& config) {
  const auto bytes = encode_codes(encoded, config, codes_format_for(path));
  write_file_bytes(path, bytes);
}

EncodedAudio load_codes(const std::string& path, const EncodecConfig& config) {
  const auto format = codes_format_for(path);
  const auto bytes = read_file_bytes(path);
  return decode_codes(bytes, config, format, path);
}

}  // namespace earshot::encodec
