// End-to-end: `earshot stems` on the fixture mix with small4 writes stems equal to demucs'
// apply_model output (float WAVs, README tolerance), and bad input never leaves partial files.
#include "dsp/audio_file.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"

#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

namespace earshot::htdemucs {
namespace {

namespace fs = std::filesystem;

class StemsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("earshot_stems_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  int run(const std::string& args) {
    const std::string cmd =
        earshot::test::earshot_binary() + " stems " + args + " 2>" + (dir_ / "stderr.txt").string();
    return std::system(cmd.c_str());
  }
  std::string stderr_text() {
    std::ifstream in(dir_ / "stderr.txt");
    return {std::istreambuf_iterator<char>(in), {}};
  }
  // Files in `out`, hidden temporaries included.
  std::vector<std::string> listing(const fs::path& out) {
    std::vector<std::string> names;
    if (!fs::exists(out)) return names;
    for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(StemsCli, SeparatesTheFixtureMixLikeApplyModel) {
  const auto ref = test::reference("small4");
  const auto mix = ref.load_f32("mix");  // [2][T]
  const auto expected = ref.load_f32("separated");
  const std::size_t T = mix.size() / 2;
  std::vector<float> interleaved(mix.size());
  for (std::size_t t = 0; t < T; ++t)
    for (int c = 0; c < 2; ++c) interleaved[t * 2 + c] = mix[c * T + t];
  const fs::path input = dir_ / "mix.wav";
  dsp::write_wav_atomic(input, interleaved, 2, 44100, dsp::WavEncoding::Float32);

  const fs::path out = dir_ / "stems";
  ASSERT_EQ(0, run("--model " + test::model_dir("small4") + " " + input.string() + " --out " +
                   out.string() + " --float"))
      << stderr_text();
  const char* sources[] = {"drums", "bass", "other", "vocals"};
  EXPECT_EQ(listing(out),
            (std::vector<std::string>{"bass.wav", "drums.wav", "other.wav", "vocals.wav"}));
  std::vector<float> got(expected.size());
  for (int s = 0; s < 4; ++s) {
    const auto stem = dsp::read_audio_file(out / (std::string(sources[s]) + ".wav"));
    ASSERT_EQ(stem.channels, 2u);
    ASSERT_EQ(stem.sample_rate, 44100);
    ASSERT_EQ(stem.frames(), T);
    for (std::size_t t = 0; t < T; ++t)
      for (int c = 0; c < 2; ++c) got[(s * 2 + c) * T + t] = stem.samples[t * 2 + c];
  }
  const auto e = test::compare(got, expected);
  std::printf("earshot stems small4 vs separated: max-abs %.3g  rel-L2 %.3g\n", e.max_abs,
              e.rel_l2);
  EXPECT_LE(e.rel_l2, 1e-4);
  EXPECT_LE(e.max_abs, 1e-4);
}

TEST_F(StemsCli, MonoLowRateInputGivesStereo44k) {
  // 0.5 s of 8-bit mono at 22.05 kHz: resampled, duplicated to stereo, shorter than a segment.
  const std::size_t n = 11025;
  std::vector<float> tone(n);
  for (std::size_t i = 0; i < n; ++i) tone[i] = 0.5f * std::sin(0.05f * static_cast<float>(i));
  const fs::path input = dir_ / "mono.wav";
  dsp::write_wav_atomic(input, tone, 1, 22050, dsp::WavEncoding::Pcm16);
  const fs::path out = dir_ / "stems";
  ASSERT_EQ(0, run("--model " + test::model_dir("small6") + " " + input.string() + " --out " +
                   out.string()))
      << stderr_text();
  EXPECT_EQ(listing(out).size(), 6u);
  const auto guitar = dsp::read_audio_file(out / "guitar.wav");
  EXPECT_EQ(guitar.channels, 2u);
  EXPECT_EQ(guitar.sample_rate, 44100);
  EXPECT_NEAR(static_cast<double>(guitar.frames()), 22050.0, 2.0);
  for (float v : guitar.samples) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(StemsCli, ErrorsLeaveNoPartialFiles) {
  const fs::path out = dir_ / "stems";
  // A missing input file.
  EXPECT_NE(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "nope.wav").string() +
                   " --out " + out.string()));
  EXPECT_NE(stderr_text().find("nope.wav"), std::string::npos) << stderr_text();
  EXPECT_TRUE(listing(out).empty());
  // Not audio at all.
  std::ofstream(dir_ / "text.wav") << "this is not a wav file";
  EXPECT_NE(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "text.wav").string() +
                   " --out " + out.string()));
  EXPECT_TRUE(listing(out).empty());
  // A model directory that is not one.
  EXPECT_NE(0, run("--model " + dir_.string() + " " + (dir_ / "text.wav").string() + " --out " +
                   out.string()));
  EXPECT_NE(stderr_text().find("config.json"), std::string::npos) << stderr_text();
  // A segment longer than the model's.
  std::vector<float> silence(2 * 1000, 0.0f);
  dsp::write_wav_atomic(dir_ / "silence.wav", silence, 2, 44100);
  EXPECT_NE(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "silence.wav").string() +
                   " --out " + out.string() + " --segment 5"));
  EXPECT_NE(stderr_text().find("segment"), std::string::npos) << stderr_text();
  EXPECT_TRUE(listing(out).empty());
  // Silence itself separates into finite silence-ish stems.
  ASSERT_EQ(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "silence.wav").string() +
                   " --out " + out.string() + " --float"))
      << stderr_text();
  const auto drums = dsp::read_audio_file(out / "drums.wav");
  EXPECT_EQ(drums.frames(), 1000u);
  for (float v : drums.samples) ASSERT_TRUE(std::isfinite(v));
}

// Writes `frames` frames of `channels` channels with libsndfile in the given format.
void write_raw(const fs::path& path, const std::vector<float>& interleaved, int channels, int rate,
               int format) {
  SF_INFO info{};
  info.channels = channels;
  info.samplerate = rate;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  sf_writef_float(f, interleaved.data(), static_cast<sf_count_t>(interleaved.size() / channels));
  sf_close(f);
}

TEST_F(StemsCli, SurroundHighRateEightBitNanAndEmptyInputs) {
  const fs::path out = dir_ / "stems";
  // 6 channels, 96 kHz, unsigned 8-bit: downmixed to stereo and resampled to 44.1 kHz.
  const int frames = 48000;
  std::vector<float> surround(static_cast<std::size_t>(frames) * 6);
  for (int t = 0; t < frames; ++t)
    for (int c = 0; c < 6; ++c)
      surround[t * 6 + c] = 0.3f * std::sin(0.01f * static_cast<float>(t * (c + 1)));
  write_raw(dir_ / "surround.wav", surround, 6, 96000, SF_FORMAT_WAV | SF_FORMAT_PCM_U8);
  ASSERT_EQ(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "surround.wav").string() +
                   " --out " + out.string() + " --float"))
      << stderr_text();
  const auto bass = dsp::read_audio_file(out / "bass.wav");
  EXPECT_EQ(bass.channels, 2u);
  EXPECT_EQ(bass.sample_rate, 44100);
  EXPECT_NEAR(static_cast<double>(bass.frames()), frames * 44100.0 / 96000.0, 2.0);
  for (float v : bass.samples) ASSERT_TRUE(std::isfinite(v));

  // NaN samples in a float file are read as 0, with a warning.
  std::vector<float> with_nan(2 * 5000, 0.1f);
  with_nan[100] = NAN;
  with_nan[2001] = INFINITY;
  write_raw(dir_ / "nan.wav", with_nan, 2, 44100, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  ASSERT_EQ(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "nan.wav").string() +
                   " --out " + out.string() + " --float"))
      << stderr_text();
  EXPECT_NE(stderr_text().find("2 NaN/Inf samples"), std::string::npos) << stderr_text();
  const auto drums = dsp::read_audio_file(out / "drums.wav");
  EXPECT_EQ(drums.frames(), 5000u);
  for (float v : drums.samples) ASSERT_TRUE(std::isfinite(v));

  // A file without a single frame is a clear error, and leaves the previous stems alone.
  write_raw(dir_ / "empty.wav", {}, 2, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  EXPECT_NE(0, run("--model " + test::model_dir("small4") + " " + (dir_ / "empty.wav").string() +
                   " --out " + out.string()));
  EXPECT_NE(stderr_text().find("empty"), std::string::npos) << stderr_text();
  EXPECT_EQ(dsp::read_audio_file(out / "drums.wav").frames(), 5000u);
  EXPECT_EQ(listing(out).size(), 4u);
}

TEST_F(StemsCli, InterruptLeavesOldStemsAndNoTemporaries) {
  // 2 minutes of noise take many chunks; SIGINT arrives half a second in.
  const std::size_t frames = 120 * 44100;
  std::vector<float> noise(frames * 2);
  std::uint32_t state = 1;
  for (float& v : noise) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
  }
  const fs::path input = dir_ / "long.wav";
  dsp::write_wav_atomic(input, noise, 2, 44100, dsp::WavEncoding::Pcm16);
  const fs::path out = dir_ / "stems";
  fs::create_directories(out);
  std::ofstream(out / "drums.wav") << "previous stem";
  const std::string cmd = "timeout -s INT 0.5 " + earshot::test::earshot_binary() +
                          " stems --model " + test::model_dir("small4") + " " + input.string() +
                          " --out " + out.string() + " 2>" + (dir_ / "stderr.txt").string();
  const int status = std::system(cmd.c_str());
  EXPECT_NE(status, 0);
  EXPECT_NE(stderr_text().find("interrupted"), std::string::npos) << stderr_text();
  EXPECT_EQ(listing(out), std::vector<std::string>{"drums.wav"});
  std::ifstream old(out / "drums.wav");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(old), {}), "previous stem");
}

}  // namespace
}  // namespace earshot::htdemucs
