// The "Bad input" list through the `earshot stems` binary, with the small4 fixture
// model: every case gives a correct result or one clear line on stderr and exit status 1.
//
// "Correct" is checked against a second run of the same binary on the input converted by the
// test the way the issue says it must be read (mono duplicated, 8-bit as the float values
// libsndfile reads, 96 kHz resampled to 44.1 kHz, 7.1 downmixed to stereo, NaN read as 0), or
// against the library's separation: the stems must agree within the HTDemucs README tolerance
// (rel L2 <= 1e-4, max-abs <= 1e-4; float WAV output).
#include "dsp/audio_file.hpp"
#include "dsp/resampler.hpp"
#include "tests/stems_live/stems_test_util.hpp"

#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace earshot::test {
namespace {

namespace fs = std::filesystem;

constexpr int kRate = 44100;
const char* const kSources[] = {"drums", "bass", "other", "vocals"};

class StemsBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("earshot_stems_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `earshot stems --model MODEL FILE --out DIR/out_NAME --float`; returns the exit status.
  int stems(const fs::path& input, const std::string& name, const std::string& model = "") {
    const std::string cmd = earshot_binary() + " stems --model " +
                            (model.empty() ? small4_dir() : model) + " " + input.string() +
                            " --out " + out(name).string() + " --float 2>" +
                            (dir_ / "stderr.txt").string();
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  fs::path out(const std::string& name) const { return dir_ / ("out_" + name); }
  std::string err() const {
    std::ifstream in(dir_ / "stderr.txt");
    return {std::istreambuf_iterator<char>(in), {}};
  }
  // Stems of a run, [source*2 + channel][frame]; checks format on the way.
  std::vector<std::vector<float>> read_stems(const std::string& name) const {
    std::vector<std::vector<float>> planar;
    for (const char* source : kSources) {
      const auto stem = dsp::read_audio_file(out(name) / (std::string(source) + ".wav"));
      EXPECT_EQ(stem.channels, 2u);
      EXPECT_EQ(stem.sample_rate, kRate);
      for (int c = 0; c < 2; ++c) {
        planar.emplace_back(stem.frames());
        for (std::size_t t = 0; t < stem.frames(); ++t) planar.back()[t] = stem.samples[t * 2 + c];
      }
    }
    return planar;
  }
  // Writes interleaved frames with libsndfile in any format.
  fs::path write(const std::string& name, const std::vector<float>& interleaved, int channels,
                 int rate, int format) const {
    const fs::path path = dir_ / name;
    SF_INFO info{};
    info.channels = channels;
    info.samplerate = rate;
    info.format = format;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    EXPECT_NE(f, nullptr) << sf_strerror(nullptr);
    if (f == nullptr) return path;
    sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
    const sf_count_t frames = static_cast<sf_count_t>(interleaved.size()) / channels;
    EXPECT_EQ(sf_writef_float(f, interleaved.data(), frames), frames);
    sf_close(f);
    return path;
  }
  fs::path write_float(const std::string& name, const std::vector<float>& interleaved, int channels,
                       int rate = kRate) const {
    return write(name, interleaved, channels, rate, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  }

  fs::path dir_;
};

// 1.5 s of the fixture music (stereo, 44.1 kHz), interleaved.
std::vector<float> music(double seconds = 1.5) {
  const auto file = dsp::read_audio_stereo_44k(fixture("audio/music_44k_stereo.wav"));
  const auto n = static_cast<std::size_t>(seconds * kRate) * 2;
  return {file.samples.begin() + 2 * kRate, file.samples.begin() + 2 * kRate + n};
}

Error compare(const std::vector<std::vector<float>>& got,
              const std::vector<std::vector<float>>& ref) {
  ErrorAccumulator acc;
  EXPECT_EQ(got.size(), ref.size());
  for (std::size_t k = 0; k < got.size() && k < ref.size(); ++k) {
    EXPECT_EQ(got[k].size(), ref[k].size()) << "channel " << k;
    for (std::size_t t = 0; t < std::min(got[k].size(), ref[k].size()); ++t)
      acc.add(got[k][t], ref[k][t]);
  }
  return acc.error();
}

void expect_within_tolerance(const Error& e, const char* what) {
  std::printf("%s: rel L2 %.3g, max-abs %.3g\n", what, e.rel_l2, e.max_abs);
  EXPECT_LE(e.rel_l2, 1e-4) << what;
  EXPECT_LE(e.max_abs, 1e-4) << what;
}

// Exactly one line on stderr, containing `needle`.
void expect_one_line_error(const std::string& err, const std::string& needle) {
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find(needle), std::string::npos) << err;
}

TEST_F(StemsBadInput, MonoIsDuplicatedToStereo) {
  const auto stereo = music();
  std::vector<float> mono(stereo.size() / 2), dup(stereo.size());
  for (std::size_t t = 0; t < mono.size(); ++t) {
    mono[t] = 0.5f * (stereo[2 * t] + stereo[2 * t + 1]);
    dup[2 * t] = dup[2 * t + 1] = mono[t];
  }
  ASSERT_EQ(stems(write_float("mono.wav", mono, 1), "mono"), 0) << err();
  ASSERT_EQ(stems(write_float("dup.wav", dup, 2), "dup"), 0) << err();
  const auto got = read_stems("mono");
  ASSERT_EQ(got[0].size(), mono.size());
  expect_within_tolerance(compare(got, read_stems("dup")), "mono vs duplicated stereo");
}

TEST_F(StemsBadInput, EightBitIsReadAsItsFloatValues) {
  const auto path = write("u8.wav", music(), 2, kRate, SF_FORMAT_WAV | SF_FORMAT_PCM_U8);
  const auto as_read = dsp::read_audio_file(path);  // what 8-bit holds, as float
  ASSERT_EQ(as_read.channels, 2u);
  ASSERT_EQ(stems(path, "u8"), 0) << err();
  ASSERT_EQ(stems(write_float("u8_as_float.wav", as_read.samples, 2), "ref"), 0) << err();
  expect_within_tolerance(compare(read_stems("u8"), read_stems("ref")), "8-bit vs its values");
}

TEST_F(StemsBadInput, NinetySixKilohertzIsResampledTo44100) {
  const auto x44 = music();
  const auto x96 = dsp::resample(x44, 2, kRate, 96000);
  const auto path = write_float("96k.wav", x96, 2, 96000);
  ASSERT_EQ(stems(path, "96k"), 0) << err();
  EXPECT_NE(err().find("resampled 96000 Hz -> 44100 Hz"), std::string::npos) << err();
  // The reference: the same 96 kHz signal resampled whole to 44.1 kHz by the library.
  ASSERT_EQ(stems(write_float("back.wav", dsp::resample(x96, 2, 96000, kRate), 2), "ref"), 0)
      << err();
  const auto got = read_stems("96k");
  EXPECT_NEAR(static_cast<double>(got[0].size()), static_cast<double>(x44.size() / 2), 1.0);
  expect_within_tolerance(compare(got, read_stems("ref")), "96 kHz vs resampled whole");
}

TEST_F(StemsBadInput, SevenPointOneIsDownmixedToStereo) {
  const auto stereo = music();
  const std::size_t T = stereo.size() / 2;
  std::vector<float> surround(T * 8);
  for (std::size_t t = 0; t < T; ++t)
    for (int c = 0; c < 8; ++c)  // every channel different: L, R, and six mixtures
      surround[t * 8 + c] = c < 2
                                ? stereo[t * 2 + c]
                                : 0.3f * stereo[t * 2 + (c % 2)] - 0.1f * stereo[t * 2 + 1 - c % 2];
  const auto path = write_float("7.1.wav", surround, 8);
  ASSERT_EQ(stems(path, "71"), 0) << err();
  ASSERT_EQ(stems(write_float("down.wav", dsp::convert_channels(surround, 8, 2), 2), "ref"), 0)
      << err();
  expect_within_tolerance(compare(read_stems("71"), read_stems("ref")), "7.1 vs downmix");
}

TEST_F(StemsBadInput, ShorterThanOneSegmentMatchesTheLibrary) {
  const auto x = music(0.3);  // the model's segment is 0.975 s
  ASSERT_EQ(stems(write_float("short.wav", x, 2), "short"), 0) << err();
  rt::MemoryBudget budget(256u << 20);
  auto bag = htdemucs::ModelBag::load(small4_dir(), budget);
  std::vector<std::vector<float>> planar(2, std::vector<float>(x.size() / 2));
  for (std::size_t t = 0; t < planar[0].size(); ++t)
    for (int c = 0; c < 2; ++c) planar[c][t] = x[t * 2 + c];
  const auto got = read_stems("short");
  ASSERT_EQ(got[0].size(), planar[0].size());
  expect_within_tolerance(compare(got, separate_offline(bag, planar, budget)),
                          "0.3 s vs the library");
}

TEST_F(StemsBadInput, SilenceGivesSilentStems) {
  const std::vector<float> zeros(static_cast<std::size_t>(kRate) * 2, 0.0f);
  ASSERT_EQ(stems(write_float("silence.wav", zeros, 2), "silence"), 0) << err();
  const auto got = read_stems("silence");
  ASSERT_EQ(got[0].size(), zeros.size() / 2);
  double max_abs = 0.0;
  for (const auto& channel : got)
    for (float v : channel) {
      ASSERT_TRUE(std::isfinite(v));
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
    }
  // demucs normalises the mix by its std (plus 1e-5) and multiplies it back: 0 stays 0.
  EXPECT_LE(max_abs, 1e-6);
}

TEST_F(StemsBadInput, NaNSamplesAreReadAsZeroWithAWarning) {
  auto x = music();
  auto zeroed = x;
  for (std::size_t i = 1000; i < x.size(); i += 7919) {
    x[i] = i % 2 ? NAN : INFINITY;
    zeroed[i] = 0.0f;
  }
  ASSERT_EQ(stems(write_float("nan.wav", x, 2), "nan"), 0) << err();
  EXPECT_NE(err().find("NaN/Inf samples"), std::string::npos) << err();
  ASSERT_EQ(stems(write_float("zeroed.wav", zeroed, 2), "ref"), 0) << err();
  expect_within_tolerance(compare(read_stems("nan"), read_stems("ref")), "NaN input vs zeros");
}

TEST_F(StemsBadInput, AFileWithoutFramesIsOneClearError) {
  const auto path = write_float("empty.wav", {}, 2);
  EXPECT_EQ(stems(path, "empty"), 1);
  expect_one_line_error(err(), "earshot");
  EXPECT_FALSE(fs::exists(out("empty") / "drums.wav"));
}

TEST_F(StemsBadInput, NotAudioIsOneClearError) {
  const fs::path path = dir_ / "notes.wav";
  std::ofstream(path) << "this is not a WAV file\n";
  EXPECT_EQ(stems(path, "text"), 1);
  expect_one_line_error(err(), path.string());
}

TEST_F(StemsBadInput, AConfigThatDoesNotMatchTheWeightsIsOneClearError) {
  // A copy of the fixture model whose config.json asks for wider layers than the weights have.
  const fs::path model = dir_ / "model";
  fs::create_directories(model);
  for (const char* file : {"config.json", "model.safetensors"})
    fs::copy_file(fs::path(small4_dir()) / file, model / file);
  std::string config;
  {
    std::ifstream in(model / "config.json");
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string from = "\"channels\": 8,";
  const auto at = config.find(from);
  ASSERT_NE(at, std::string::npos);
  config.replace(at, from.size(), "\"channels\": 16,");
  std::ofstream(model / "config.json", std::ios::trunc) << config;

  const auto path = write_float("x.wav", music(0.5), 2);
  EXPECT_EQ(stems(path, "bad_model", model.string()), 1);
  const std::string e = err();
  expect_one_line_error(e, "model.safetensors");
  EXPECT_FALSE(fs::exists(out("bad_model") / "drums.wav"));
}

}  // namespace
}  // namespace earshot::test
