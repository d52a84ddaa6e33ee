// Code files (.npy, .npz, .ecdc) and the play stream framing: round trips, the reference's
// bit packing, and hostile input.
#include "models/encodec/codes_file.hpp"
#include "models/encodec/code_stream.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace earshot::encodec {
namespace {

EncodecConfig config24() {
  return EncodecConfig::published_24khz();
}

EncodecConfig config48() {
  EncodecConfig c;
  c.audio_channels = 2;
  c.sampling_rate = 48000;
  c.target_bandwidths = {3.0, 6.0, 12.0, 24.0};
  c.norm_type = NormType::kTimeGroupNorm;
  c.use_causal_conv = false;
  c.normalize = true;
  c.chunk_length_s = 1.0;
  c.overlap = 0.01;
  return c;
}

EncodedAudio sample24(int n_q, std::int64_t frames) {
  EncodedAudio e;
  e.n_q = n_q;
  e.audio_length = frames * 320 - 17;
  CodeChunk c;
  c.frames = frames;
  for (std::int64_t i = 0; i < n_q * frames; ++i)
    c.codes.push_back(static_cast<int>((i * 37) % 1024));
  e.chunks.push_back(c);
  return e;
}

// Like the reference: 1 s chunks, stride 47520, last chunk short.
EncodedAudio sample48(int n_q) {
  EncodedAudio e;
  e.n_q = n_q;
  e.audio_length = 100000;  // chunks at 0, 47520, 95040: 48000, 48000, 4960 samples
  const std::int64_t frames[] = {150, 150, 16};
  for (int c = 0; c < 3; ++c) {
    CodeChunk chunk;
    chunk.frames = frames[c];
    chunk.scale = 0.05f * (c + 1);
    for (std::int64_t i = 0; i < n_q * frames[c]; ++i)
      chunk.codes.push_back(static_cast<int>((i * 91 + c) % 1024));
    e.chunks.push_back(chunk);
  }
  return e;
}

void expect_same(const EncodedAudio& a, const EncodedAudio& b, bool scales) {
  ASSERT_EQ(a.n_q, b.n_q);
  ASSERT_EQ(a.chunks.size(), b.chunks.size());
  for (std::size_t c = 0; c < a.chunks.size(); ++c) {
    EXPECT_EQ(a.chunks[c].frames, b.chunks[c].frames);
    EXPECT_EQ(a.chunks[c].codes, b.chunks[c].codes);
    if (scales) {
      EXPECT_EQ(a.chunks[c].scale, b.chunks[c].scale);
    }
  }
}

template <typename Fn>
void expect_error(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "accepted bad input (expected: " << needle << ")";
  } catch (const CodeFileError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(CodesFile, NpyRoundTripAndHeader) {
  const auto e = sample24(8, 50);
  const auto bytes = encode_codes(e, config24(), CodesFormat::kNpy);
  const std::string head(reinterpret_cast<const char*>(bytes.data()), 80);
  EXPECT_EQ(head.substr(1, 5), "NUMPY");
  EXPECT_NE(head.find("'descr': '<i4', 'fortran_order': False, 'shape': (8, 50), }"),
            std::string::npos);
  const std::size_t header_len =
      static_cast<std::size_t>(bytes[8]) | (static_cast<std::size_t>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + header_len + 8 * 50 * 4);
  expect_same(decode_codes(bytes, config24(), CodesFormat::kNpy, "t.npy"), e, false);
}

TEST(CodesFile, NpzRoundTripKeepsChunksScalesAndLength) {
  const auto e = sample48(4);
  const auto bytes = encode_codes(e, config48(), CodesFormat::kNpz);
  const auto back = decode_codes(bytes, config48(), CodesFormat::kNpz, "t.npz");
  expect_same(back, e, true);
  EXPECT_EQ(back.audio_length, 100000);
  const auto entries = zip_read_stored(bytes, "t.npz");
  ASSERT_TRUE(entries.count("codes.npy"));
  EXPECT_EQ(npy_decode(entries.at("codes.npy"), "codes").shape,
            (std::vector<std::int64_t>{3, 4, 150}));
  EXPECT_EQ(npy_to_i32(npy_decode(entries.at("last_frame_pad_length.npy"), "p"), "p").at(0), 134);
}

TEST(CodesFile, EcdcBitPackingFollowsTheReference) {
  // Two 10-bit codes 1023 and 1, packed least-significant bit first: 0xFF 0x07, then the
  // remaining 4 bits flushed as 0x00.
  EncodedAudio e;
  e.n_q = 2;
  e.audio_length = 320;
  e.chunks.push_back(CodeChunk{1, {1023, 1}, 1.0f});
  const auto bytes = encode_codes(e, config24(), CodesFormat::kEcdc);
  const std::string meta = R"({"m": "encodec_24khz", "al": 320, "nc": 2, "lm": false})";
  ASSERT_EQ(bytes.size(), 9 + meta.size() + 3);
  EXPECT_EQ(std::memcmp(bytes.data(), "ECDC\0", 5), 0);
  EXPECT_EQ(static_cast<std::size_t>(bytes[8]), meta.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()) + 9, meta.size()), meta);
  EXPECT_EQ(static_cast<int>(bytes[9 + meta.size()]), 0xFF);
  EXPECT_EQ(static_cast<int>(bytes[10 + meta.size()]), 0x07);
  EXPECT_EQ(static_cast<int>(bytes[11 + meta.size()]), 0x00);
  expect_same(decode_codes(bytes, config24(), CodesFormat::kEcdc, "t.ecdc"), e, false);
}

TEST(CodesFile, EcdcRoundTrip48kHzWithScales) {
  const auto e = sample48(16);
  const auto bytes = encode_codes(e, config48(), CodesFormat::kEcdc);
  const auto back = decode_codes(bytes, config48(), CodesFormat::kEcdc, "t.ecdc");
  expect_same(back, e, true);
  EXPECT_EQ(back.audio_length, 100000);
}

TEST(CodesFile, RefusesBadInput) {
  const auto c24 = config24();
  auto good = sample24(8, 20);
  auto npy = encode_codes(good, c24, CodesFormat::kNpy);
  // Truncated data and header, bad magic.
  expect_error(
      [&] { decode_codes(std::span(npy).first(npy.size() - 3), c24, CodesFormat::kNpy, "t.npy"); },
      "truncated");
  expect_error([&] { decode_codes(std::span(npy).first(40), c24, CodesFormat::kNpy, "t.npy"); },
               "truncated");
  auto bad_magic = npy;
  bad_magic[1] = std::byte{'X'};
  expect_error([&] { decode_codes(bad_magic, c24, CodesFormat::kNpy, "t.npy"); }, "not a .npy");
  // Code out of range, wrong codebook count.
  auto out_of_range = good;
  out_of_range.chunks[0].codes[5] = 1024;
  expect_error(
      [&] {
        decode_codes(encode_codes(out_of_range, c24, CodesFormat::kNpy), c24, CodesFormat::kNpy,
                     "t.npy");
      },
      "outside [0, 1024)");
  auto three = sample24(3, 20);
  expect_error(
      [&] {
        decode_codes(encode_codes(three, c24, CodesFormat::kNpy), c24, CodesFormat::kNpy, "t.npy");
      },
      "3 codebooks");
  // 48 kHz codes need scales: .npy is refused.
  expect_error([&] { decode_codes(npy, config48(), CodesFormat::kNpy, "t.npy"); }, "scales");

  // .ecdc: truncated stream, wrong model, entropy-coded, corrupt JSON.
  auto ecdc = encode_codes(good, c24, CodesFormat::kEcdc);
  expect_error(
      [&] {
        decode_codes(std::span(ecdc).first(ecdc.size() - 2), c24, CodesFormat::kEcdc, "t.ecdc");
      },
      "truncated");
  expect_error([&] { decode_codes(ecdc, config48(), CodesFormat::kEcdc, "t.ecdc"); },
               "encodec_24khz");
  auto replace = [&](std::string from, std::string to) {
    auto copy = ecdc;
    std::string s(reinterpret_cast<const char*>(copy.data()), copy.size());
    s.replace(s.find(from), from.size(), to);
    return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                  reinterpret_cast<const std::byte*>(s.data()) + s.size());
  };
  expect_error([&] { decode_codes(replace("false", "true "), c24, CodesFormat::kEcdc, "t.ecdc"); },
               "language model");
  expect_error([&] { decode_codes(replace("\"nc\"", "\"nc'"), c24, CodesFormat::kEcdc, "t.ecdc"); },
               "metadata");
  expect_error([&] { decode_codes(std::span(ecdc).first(7), c24, CodesFormat::kEcdc, "t.ecdc"); },
               "bad magic");

  // .npz: CRC mismatch and compressed members.
  auto npz = encode_codes(sample48(4), config48(), CodesFormat::kNpz);
  auto crc_broken = npz;
  crc_broken[200] ^= std::byte{1};
  expect_error([&] { decode_codes(crc_broken, config48(), CodesFormat::kNpz, "t.npz"); }, "CRC");
  auto deflated = npz;
  deflated[8] = std::byte{8};  // method field of the first local header...
  for (std::size_t i = 0; i + 4 < deflated.size(); ++i) {  // ...and of the central records
    if (deflated[i] == std::byte{0x50} && deflated[i + 1] == std::byte{0x4b} &&
        deflated[i + 2] == std::byte{1} && deflated[i + 3] == std::byte{2}) {
      deflated[i + 10] = std::byte{8};
    }
  }
  expect_error([&] { decode_codes(deflated, config48(), CodesFormat::kNpz, "t.npz"); },
               "compressed");
  expect_error([&] { codes_format_for("x.wav"); }, "unknown codes format");
}

std::FILE* memfile(const std::string& content) {
  std::FILE* f = std::tmpfile();
  std::fwrite(content.data(), 1, content.size(), f);
  std::rewind(f);
  return f;
}

TEST(CodeStream, BinaryAndJsonFraming) {
  {
    const std::string bytes("\x01\x00\xff\x03\x02\x00\x03\x00", 8);  // frames [1,1023],[2,3]
    std::FILE* f = memfile(bytes);
    CodeFrameReader reader(f, FrameFraming::kInt16, 2, "mem");
    std::vector<std::int32_t> out;
    EXPECT_EQ(reader.read(16, out), 1);
    EXPECT_EQ(reader.read(16, out), 1);
    EXPECT_EQ(reader.read(16, out), 0);
    EXPECT_EQ(out, (std::vector<std::int32_t>{1, 1023, 2, 3}));
    std::fclose(f);
  }
  {
    std::FILE* f = memfile("[1, 2]\n\n[[3, 4], [5, 6]]\n");
    CodeFrameReader reader(f, FrameFraming::kJsonLines, 2, "mem");
    std::vector<std::int32_t> out;
    while (reader.read(1, out) > 0) {
    }
    EXPECT_EQ(out, (std::vector<std::int32_t>{1, 2, 3, 4, 5, 6}));
    std::fclose(f);
  }
  {
    std::FILE* f = memfile(std::string("\x01\x00\x00", 3));
    CodeFrameReader reader(f, FrameFraming::kInt16, 2, "mem");
    std::vector<std::int32_t> out;
    expect_error([&] { reader.read(1, out); }, "ended inside frame 0");
    std::fclose(f);
  }
  {
    std::FILE* f = memfile("[1, 2, 3]\n");
    CodeFrameReader reader(f, FrameFraming::kJsonLines, 2, "mem");
    std::vector<std::int32_t> out;
    expect_error([&] { reader.read(1, out); }, "not an array of 2 codes");
    std::fclose(f);
  }
}

}  // namespace
}  // namespace earshot::encodec
