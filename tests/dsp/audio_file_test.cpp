// Audio file reading/conversion/writing: the fixture WAV against the fixture's own float copy,
// round trips through both encodings, NaN handling, hostile files and atomic writes.
#include "dsp/audio_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "models/core/safetensors.hpp"
#include "tests/test_support.hpp"

namespace earshot::dsp {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "earshot-dsp-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path_), {}));
  }

 private:
  fs::path path_;
};

TEST(AudioFile, ReadsFixtureWavExactlyAsTheReferenceDid) {
  // ref.safetensors `audio` is speech_16k.wav as int16 / 32768: libsndfile's scaling.
  const auto audio = read_audio_file(test::fixture("audio/speech_16k.wav"));
  const auto ref =
      models::SafetensorsFile::open(test::fixture("whisper/tiny-random/ref.safetensors"))
          .load_f32("audio");
  EXPECT_EQ(audio.channels, 1u);
  EXPECT_EQ(audio.sample_rate, 16000.0);
  EXPECT_EQ(audio.non_finite_replaced, 0u);
  EXPECT_EQ(audio.samples, ref);
}

TEST(AudioFile, StereoMusicConvertsForBothModels) {
  const auto path = test::fixture("audio/music_44k_stereo.wav");
  const auto raw = read_audio_file(path);
  ASSERT_EQ(raw.channels, 2u);
  ASSERT_EQ(raw.sample_rate, 44100.0);
  const auto stereo = read_audio_stereo_44k(path);
  EXPECT_EQ(stereo.samples, raw.samples);  // already the right format: untouched
  const auto mono = read_audio_mono_16k(path);
  EXPECT_EQ(mono.channels, 1u);
  EXPECT_EQ(mono.sample_rate, 16000.0);
  EXPECT_NEAR(static_cast<double>(mono.frames()), raw.frames() * 16000.0 / 44100.0, 2.0);
}

TEST(AudioFile, RoundTripsFloatAndPcm16AndReplacesNonFinite) {
  TempDir dir;
  std::vector<float> x(3 * 1000);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = 0.8f * static_cast<float>(std::sin(0.01 * static_cast<double>(i)));
  const fs::path f32 = dir.path() / "f32.wav";
  EXPECT_EQ(write_wav_atomic(f32, x, 3, 48000, WavEncoding::Float32), 0u);
  const auto back = read_audio_file(f32);
  EXPECT_EQ(back.channels, 3u);
  EXPECT_EQ(back.sample_rate, 48000.0);
  EXPECT_EQ(back.samples, x);

  const fs::path pcm = dir.path() / "pcm.wav";
  write_wav_atomic(pcm, x, 3, 48000, WavEncoding::Pcm16);
  const auto back16 = read_audio_file(pcm);
  ASSERT_EQ(back16.samples.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(back16.samples[i], x[i], 1.0 / 32768);

  // Out-of-range samples clip in PCM16 rather than wrapping around.
  const std::vector<float> loud{2.0f, -3.0f};
  write_wav_atomic(pcm, loud, 1, 8000, WavEncoding::Pcm16);
  const auto clipped = read_audio_file(pcm);
  EXPECT_GT(clipped.samples[0], 0.99f);
  EXPECT_LE(clipped.samples[1], -0.99f);

  // NaN/Inf: the writer writes zeros and counts them; a float file holding them reads as 0.
  const std::vector<float> bad{0.5f, NAN, INFINITY, -0.25f};
  EXPECT_EQ(write_wav_atomic(f32, bad, 1, 16000), 2u);
  const auto cleaned = read_audio_file(f32);
  EXPECT_EQ(cleaned.samples, (std::vector<float>{0.5f, 0.0f, 0.0f, -0.25f}));
  EXPECT_EQ(dir.entries(), 2u) << "no temporary files left behind";
}

TEST(AudioFile, ReadCountsNonFiniteSamplesInFloatFiles) {
  // Build a float WAV containing NaN by hand (the writer would sanitise it): 44-byte header.
  TempDir dir;
  const fs::path path = dir.path() / "nan.wav";
  const float data[4] = {0.1f, NAN, -INFINITY, 0.2f};
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  out.write("RIFF", 4);
  u32(36 + sizeof(data));
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(3);  // IEEE float
  u16(1);
  u32(16000);
  u32(16000 * 4);
  u16(4);
  u16(32);
  out.write("data", 4);
  u32(sizeof(data));
  out.write(reinterpret_cast<const char*>(data), sizeof(data));
  out.close();
  const auto audio = read_audio_file(path);
  EXPECT_EQ(audio.non_finite_replaced, 2u);
  EXPECT_EQ(audio.samples, (std::vector<float>{0.1f, 0.0f, 0.0f, 0.2f}));
}

std::string error_of(const fs::path& path) {
  try {
    read_audio_file(path);
  } catch (const AudioFileError& e) {
    return e.what();
  }
  return "";
}

TEST(AudioFile, HostileInputsGiveClearErrors) {
  TempDir dir;
  const fs::path missing = dir.path() / "missing.wav";
  EXPECT_NE(error_of(missing).find("does not exist"), std::string::npos);
  EXPECT_NE(error_of(dir.path()).find("directory"), std::string::npos);

  const fs::path garbage = dir.path() / "garbage.wav";
  std::ofstream(garbage) << "this is not audio at all, just some text pretending";
  const std::string message = error_of(garbage);
  EXPECT_NE(message.find("garbage.wav"), std::string::npos) << message;

  const fs::path empty = dir.path() / "empty.wav";
  std::ofstream(empty).close();
  EXPECT_NE(error_of(empty).find("empty.wav"), std::string::npos);

  // A real WAV truncated in the middle of its data: libsndfile reads what is there.
  const auto full = read_audio_file(test::fixture("audio/speech_16k.wav"));
  const fs::path truncated = dir.path() / "truncated.wav";
  fs::copy_file(test::fixture("audio/speech_16k.wav"), truncated);
  fs::resize_file(truncated, 44 + 2 * 1000);
  const auto partial = read_audio_file(truncated);
  ASSERT_LE(partial.samples.size(), 1000u);
  for (std::size_t i = 0; i < partial.samples.size(); ++i)
    ASSERT_EQ(partial.samples[i], full.samples[i]);
}

TEST(AudioFile, WriteFailuresLeaveNothingBehind) {
  TempDir dir;
  const std::vector<float> x(100, 0.1f);
  EXPECT_THROW(write_wav_atomic(dir.path() / "no-such-dir" / "a.wav", x, 1, 16000), AudioFileError);
  EXPECT_THROW(write_wav_atomic(dir.path() / "odd.wav", x, 3, 16000), AudioFileError);
  EXPECT_THROW(write_wav_atomic(dir.path() / "rate.wav", x, 1, 0.5), AudioFileError);
  EXPECT_THROW(write_wav_atomic(dir.path() / "rate.wav", x, 1, 44100.5), AudioFileError);
  EXPECT_EQ(dir.entries(), 0u);

  // Overwriting an existing file replaces it whole.
  const fs::path target = dir.path() / "out.wav";
  write_wav_atomic(target, std::vector<float>(1000, 0.5f), 1, 16000);
  write_wav_atomic(target, x, 1, 22050);
  const auto back = read_audio_file(target);
  EXPECT_EQ(back.samples, x);
  EXPECT_EQ(back.sample_rate, 22050.0);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(ConvertChannels, DocumentedRules) {
  const std::vector<float> stereo{1.0f, 3.0f, -1.0f, 1.0f};
  EXPECT_EQ(convert_channels(stereo, 2, 1), (std::vector<float>{2.0f, 0.0f}));
  const std::vector<float> mono{0.5f, -0.25f};
  EXPECT_EQ(convert_channels(mono, 1, 2), (std::vector<float>{0.5f, 0.5f, -0.25f, -0.25f}));
  // 5.1 frame: extras spread at -3 dB into both sides, normalised so full scale cannot clip.
  const std::vector<float> surround{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  const auto down = convert_channels(surround, 6, 2);
  ASSERT_EQ(down.size(), 2u);
  EXPECT_NEAR(down[0], 1.0f, 1e-6);
  EXPECT_NEAR(down[1], 1.0f, 1e-6);
  const std::vector<float> left_only{1.0f, 0.0f, 0.0f};
  const auto l = convert_channels(left_only, 3, 2);
  EXPECT_NEAR(l[0], 1.0f / (1.0f + 1.0f / std::sqrt(2.0f)), 1e-6);
  EXPECT_EQ(l[1], 0.0f);
  EXPECT_THROW(convert_channels(surround, 4, 3), std::invalid_argument);
  EXPECT_THROW(convert_channels(stereo, 3, 1), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::dsp
