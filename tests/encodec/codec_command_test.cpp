// End to end through the real `earshot codec` command: encode -> codes file -> decode, and play
// from a file and from a pipe, compared with the reference outputs; bad input exits non-zero
// with a clear message.
#include "dsp/audio_file.hpp"
#include "models/encodec/codes_file.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace earshot::encodec::test {
namespace {

namespace fs = std::filesystem;

struct Run {
  int status;
  std::string stderr_text;
};

Run run(const std::string& args) {
  const std::string err =
      fs::temp_directory_path() / ("earshot_codec_err_" + std::to_string(getpid()));
  const std::string cmd = earshot::test::earshot_binary() + " codec " + args + " 2> " + err;
  const int status = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  fs::remove(err);
  return {WEXITSTATUS(status), ss.str()};
}

struct CodecCommand : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("earshot_codec_test_" + std::to_string(getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  static std::string model(const std::string& name) { return model_dir(name).string(); }
};

TEST_F(CodecCommand, EncodeDecode24kHzThroughNpyAndEcdc) {
  const auto ref = reference("24khz-random");
  const auto audio = ref.load_f32("audio");
  dsp::write_wav_atomic(path("in.wav"), audio, 1, 24000, dsp::WavEncoding::Float32);
  const auto m = model("24khz-random");
  for (const std::string ext : {".npy", ".ecdc"}) {
    auto r = run("encode --model " + m + " " + path("in.wav") + " -o " + path("c" + ext) +
                 " --bandwidth 6");
    ASSERT_EQ(r.status, 0) << r.stderr_text;
    EncodecConfig config = load_encodec_config(m);
    const auto codes = load_codes(path("c" + ext), config);
    ASSERT_EQ(codes.n_q, 8);
    ASSERT_EQ(codes.chunks.size(), 1u);
    EXPECT_EQ(codes.chunks[0].codes, ref.load_i32("codes_6kbps")) << ext;  // no near-ties at 6 kbps
    r = run("decode --model " + m + " " + path("c" + ext) + " -o " + path("out.wav"));
    ASSERT_EQ(r.status, 0) << r.stderr_text;
    const auto decoded = dsp::read_audio_file(path("out.wav"));
    // .ecdc carries the length; .npy gives whole frames (313 * 320).
    EXPECT_EQ(decoded.frames(), ext == ".ecdc" ? 100000u : 100160u);
    auto samples = decoded.samples;
    samples.resize(100000);
    const float err = max_abs_diff(samples, ref.load_f32("decoded_6kbps"));
    std::printf("command encode/decode via %s: decoded max |diff| %.3g (tol 1e-4)\n", ext.c_str(),
                err);
    EXPECT_LE(err, 1e-4f);
  }
}

TEST_F(CodecCommand, EncodeDecode48kHzThroughNpz) {
  const auto ref = reference("48khz-random");
  const auto audio = to_time_major(ref.load_f32("audio"), 2, 95520);
  dsp::write_wav_atomic(path("in.wav"), audio, 2, 48000, dsp::WavEncoding::Float32);
  const auto m = model("48khz-random");
  auto r =
      run("encode --model " + m + " " + path("in.wav") + " -o " + path("c.npz") + " --bandwidth 6");
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  const auto codes = load_codes(path("c.npz"), load_encodec_config(m));
  ASSERT_EQ(codes.chunks.size(), 3u);
  const auto expected = ref.load_i32("codes_6kbps");  // [3, 4, 150], no near-ties at 6 kbps
  const auto scales = ref.load_f32("scales");
  for (int c = 0; c < 3; ++c) {
    const auto& chunk = codes.chunks[c];
    EXPECT_NEAR(chunk.scale, scales[c], 1e-6 * scales[c]);
    for (int q = 0; q < 4; ++q) {
      for (std::int64_t f = 0; f < chunk.frames; ++f) {
        ASSERT_EQ(chunk.codes[q * chunk.frames + f], expected[(c * 4 + q) * 150 + f]);
      }
    }
  }
  r = run("decode --model " + m + " " + path("c.npz") + " -o " + path("out.wav"));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  const auto decoded = dsp::read_audio_file(path("out.wav"));
  ASSERT_EQ(decoded.frames(), 95520u);
  ASSERT_EQ(decoded.channels, 2u);
  const float err =
      max_abs_diff(decoded.samples, to_time_major(ref.load_f32("decoded_6kbps"), 2, 95520));
  std::printf("command 48 kHz encode/decode via .npz: decoded max |diff| %.3g (tol 1e-4)\n", err);
  EXPECT_LE(err, 1e-4f);
}

// --f16-weights (decode and play): the decoder's weight-streaming layers in half precision. The
// result must stay near the reference (f16_weights_test bounds the mode at 2e-3) and must
// differ from the float decode (about 1e-6 from the reference), or the flag did nothing.
TEST_F(CodecCommand, F16WeightsFlagDecodesAndPlaysNearTheReference) {
  const auto ref = reference("24khz-random");
  const auto codes = ref.load_i32("codes_6kbps");  // [8, 313]
  std::string i16;
  for (int f = 0; f < 313; ++f) {
    for (int q = 0; q < 8; ++q) {
      const int c = codes[q * 313 + f];
      i16 += static_cast<char>(c & 0xff);
      i16 += static_cast<char>(c >> 8);
    }
  }
  std::ofstream(path("codes.i16"), std::ios::binary) << i16;
  const auto m = model("24khz-random");
  dsp::write_wav_atomic(path("in.wav"), ref.load_f32("audio"), 1, 24000, dsp::WavEncoding::Float32);
  auto r =
      run("encode --model " + m + " " + path("in.wav") + " -o " + path("c.npy") + " --bandwidth 6");
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  const auto expected = ref.load_f32("decoded_6kbps");
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"decode",
       "decode --f16-weights --model " + m + " " + path("c.npy") + " -o " + path("d.wav")},
      {"play", "play --f16-weights --model " + m + " --bandwidth 6 --codes " + path("codes.i16") +
                   " --output " + path("d.wav")}};
  for (const auto& [what, args] : runs) {
    r = run(args);
    ASSERT_EQ(r.status, 0) << what << ": " << r.stderr_text;
    auto samples = dsp::read_audio_file(path("d.wav")).samples;
    ASSERT_GE(samples.size(), 100000u) << what;
    samples.resize(100000);
    const float err = max_abs_diff(samples, expected);
    std::printf("command %s --f16-weights: max |diff| vs reference %.3g (bound 2e-3)\n",
                what.c_str(), err);
    EXPECT_LE(err, 2e-3f) << what;
    EXPECT_GT(err, 1e-5f) << what << ": the float decode's error; the flag changed nothing";
  }
}

TEST_F(CodecCommand, PlayFromFileAndPipe) {
  const auto ref = reference("24khz-random");
  const auto codes = ref.load_i32("codes_1_5kbps");  // [2, 313]
  std::string i16;
  std::string jsonl;
  for (int f = 0; f < 313; ++f) {
    jsonl += "[";
    for (int q = 0; q < 2; ++q) {
      const int c = codes[q * 313 + f];
      i16 += static_cast<char>(c & 0xff);
      i16 += static_cast<char>(c >> 8);
      jsonl += std::to_string(c) + (q == 0 ? ", " : "]\n");
    }
  }
  std::ofstream(path("codes.i16"), std::ios::binary) << i16;
  std::ofstream(path("codes.jsonl")) << jsonl;
  const auto m = model("24khz-random");
  const auto expected = ref.load_f32("decoded_1_5kbps");
  for (const std::string how : {"file", "pipe", "jsonl"}) {
    std::string args = "play --model " + m + " --bandwidth 1.5 --output " + path("p.wav");
    if (how == "file") args += " --codes " + path("codes.i16");
    if (how == "pipe")
      args = "play --model " + m + " --bandwidth 1.5 --codes - --output " + path("p.wav") + " < " +
             path("codes.i16");
    if (how == "jsonl") args += " --format jsonl --codes " + path("codes.jsonl");
    const auto r = run(args);
    ASSERT_EQ(r.status, 0) << how << ": " << r.stderr_text;
    const auto played = dsp::read_audio_file(path("p.wav"));
    ASSERT_EQ(played.frames(), 313u * 320u) << how;
    auto samples = played.samples;
    samples.resize(100000);
    const float err = max_abs_diff(samples, expected);
    std::printf("command play (%s): max |diff| vs reference %.3g (tol 1e-4)\n", how.c_str(), err);
    EXPECT_LE(err, 1e-4f) << how;
  }
}

TEST_F(CodecCommand, OtherRatesAndChannelCountsAreConverted) {
  // A 48 kHz stereo file for the 24 kHz mono model (resampled, downmixed), and a mono file for
  // the stereo 48 kHz model (duplicated into both channels).
  const auto stereo48 = earshot::test::fixture("audio/speech_48k_stereo.wav").string();
  auto r =
      run("encode --model " + model("24khz-random") + " " + stereo48 + " -o " + path("a.ecdc"));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  const auto input = dsp::read_audio_file(stereo48);
  const auto codes = load_codes(path("a.ecdc"), load_encodec_config(model("24khz-random")));
  const double expected_len = static_cast<double>(input.frames()) * 24000.0 / input.sample_rate;
  EXPECT_NEAR(static_cast<double>(codes.audio_length), expected_len, 2.0);
  EXPECT_EQ(codes.chunks.at(0).frames, (codes.audio_length + 319) / 320);

  const auto mono24 = earshot::test::fixture("audio/speech_24k.wav").string();
  r = run("encode --model " + model("48khz-random") + " " + mono24 + " -o " + path("b.npz"));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  r = run("decode --model " + model("48khz-random") + " " + path("b.npz") + " -o " + path("b.wav"));
  ASSERT_EQ(r.status, 0) << r.stderr_text;
  const auto decoded = dsp::read_audio_file(path("b.wav"));
  EXPECT_EQ(decoded.channels, 2u);
  EXPECT_EQ(decoded.sample_rate, 48000.0);
}

TEST_F(CodecCommand, BadInputFailsWithAClearMessage) {
  const auto m = model("24khz-random");
  std::ofstream(path("trunc.npy"), std::ios::binary) << std::string("\x93NUMPY\x01\x00", 8);
  auto r = run("decode --model " + m + " " + path("trunc.npy") + " -o " + path("o.wav"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("truncated"), std::string::npos) << r.stderr_text;

  std::ofstream(path("bad.ecdc"), std::ios::binary) << "ECDX garbage";
  r = run("decode --model " + m + " " + path("bad.ecdc") + " -o " + path("o.wav"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("bad magic"), std::string::npos) << r.stderr_text;

  std::ofstream(path("range.i16"), std::ios::binary) << std::string("\x00\x04\x00\x00", 4);  // 1024
  r = run("play --model " + m + " --bandwidth 1.5 --codes " + path("range.i16") + " --output " +
          path("o.wav"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("outside [0, 1024)"), std::string::npos) << r.stderr_text;

  r = run("play --model " + model("48khz-random") + " --bandwidth 3 --codes " + path("range.i16") +
          " --output " + path("o.wav"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("not causal"), std::string::npos) << r.stderr_text;

  const auto audio = std::vector<float>(4800, 0.1f);
  dsp::write_wav_atomic(path("in.wav"), audio, 1, 24000, dsp::WavEncoding::Float32);
  r = run("encode --model " + m + " " + path("in.wav") + " -o " + path("c.npy") + " --bandwidth 5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.stderr_text.find("target bandwidths"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace earshot::encodec::test
