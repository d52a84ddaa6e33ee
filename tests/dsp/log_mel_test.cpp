// Whisper log-mel against openai/whisper's own output stored in the golden fixtures
// (README tolerance: |delta| <= 2e-4), plus the mel bank's Slaney properties and the
// streaming building blocks.
#include "dsp/log_mel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsp/mel_filters.hpp"
#include "models/core/safetensors.hpp"
#include "tests/test_support.hpp"

namespace earshot::dsp {
namespace {

constexpr float kMelTolerance = 2e-4f;  // whisper fixtures README

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

void expect_matches_fixture(const char* dir, std::size_t n_mels) {
  const auto ref = models::SafetensorsFile::open(
      test::fixture(std::string("whisper/") + dir + "/ref.safetensors"));
  const std::vector<std::int64_t> shape{static_cast<std::int64_t>(n_mels), 3000};
  ref.expect_shape("mel", shape);
  const auto audio = ref.load_f32("audio");
  const auto expected = ref.load_f32("mel");

  WhisperLogMel log_mel(n_mels);
  std::vector<float> mel(n_mels * WhisperAudio::kChunkFrames);
  log_mel.compute(audio, mel);
  const float err = max_abs_diff(mel, expected);
  std::printf("[ mel %s ] n_mels %zu: max |delta| vs openai/whisper = %.3g (tolerance %.1g)\n", dir,
              n_mels, static_cast<double>(err), static_cast<double>(kMelTolerance));
  EXPECT_LE(err, kMelTolerance) << dir;
}

TEST(WhisperLogMel, MatchesTinyFixture80Bins) {
  expect_matches_fixture("tiny-random", 80);
}

TEST(WhisperLogMel, MatchesV3Fixture128Bins) {
  expect_matches_fixture("v3-random", 128);
}

TEST(WhisperLogMel, LongAudioIsTrimmedTo30Seconds) {
  const auto ref =
      models::SafetensorsFile::open(test::fixture("whisper/tiny-random/ref.safetensors"));
  auto audio = ref.load_f32("audio");
  WhisperLogMel log_mel(80);
  std::vector<float> a(80 * 3000), b(80 * 3000);
  log_mel.compute(audio, a);
  // Explicit zeros up to 30 s and then loud garbage past 30 s: identical result.
  audio.resize(WhisperAudio::kChunkSamples, 0.0f);
  audio.resize(WhisperAudio::kChunkSamples + 5000, 0.9f);
  log_mel.compute(audio, b);
  EXPECT_EQ(a, b);
}

TEST(WhisperLogMel, StreamingFramesAgreeWithFullWindowInTheInterior) {
  const auto ref =
      models::SafetensorsFile::open(test::fixture("whisper/tiny-random/ref.safetensors"));
  const auto audio = ref.load_f32("audio");
  WhisperLogMel log_mel(80);
  std::vector<float> full(80 * WhisperLogMel::frames_for(audio.size()));
  log_mel.log_mel_frames(audio, full);

  // A 2 s slice starting at frame 100: interior frames are the same frames.
  const std::size_t first_frame = 100, slice_frames = 200;
  std::span<const float> slice(audio.data() + first_frame * 160, slice_frames * 160);
  std::vector<float> part(80 * slice_frames, -99.0f);
  log_mel.log_mel_frames(slice, part);
  const std::size_t frames_full = WhisperLogMel::frames_for(audio.size());
  for (std::size_t m = 0; m < 80; ++m)
    for (std::size_t t = 2; t < slice_frames - 2; ++t)
      ASSERT_EQ(part[m * slice_frames + t], full[m * frames_full + first_frame + t])
          << "mel " << m << " frame " << t;

  // normalize() over a whole 30 s window is exactly compute().
  std::vector<float> padded(audio);
  padded.resize(WhisperAudio::kChunkSamples, 0.0f);
  std::vector<float> via_frames(80 * 3000), via_compute(80 * 3000);
  log_mel.log_mel_frames(padded, via_frames);
  WhisperLogMel::normalize(via_frames);
  log_mel.compute(audio, via_compute);
  EXPECT_EQ(via_frames, via_compute);
}

TEST(WhisperLogMel, RejectsBadSizes) {
  WhisperLogMel log_mel(80);
  std::vector<float> out(80 * 3000);
  EXPECT_THROW(log_mel.compute(std::vector<float>(100), std::span<float>(out).first(10)),
               std::invalid_argument);
  EXPECT_THROW(log_mel.log_mel_frames(std::vector<float>(200), out), std::invalid_argument);
  EXPECT_THROW(log_mel.log_mel_frames(std::vector<float>(480001), out), std::invalid_argument);
  EXPECT_THROW(log_mel.log_mel_frames(std::vector<float>(16000), std::span<float>(out).first(10)),
               std::invalid_argument);
}

TEST(MelFilterbank, SlaneyScaleAndAreaNormalisation) {
  EXPECT_DOUBLE_EQ(hz_to_mel_slaney(1000.0), 15.0);
  EXPECT_NEAR(mel_to_hz_slaney(hz_to_mel_slaney(6000.0)), 6000.0, 1e-9);
  EXPECT_NEAR(hz_to_mel_slaney(500.0), 7.5, 1e-12);  // linear part: 200/3 Hz per mel

  const auto bank = mel_filterbank_slaney(16000, 400, 80);
  ASSERT_EQ(bank.n_bins, 201u);
  ASSERT_EQ(bank.weights.size(), 80u * 201u);
  for (std::size_t m = 0; m < bank.n_mels; ++m) {
    for (std::size_t k = 0; k < bank.n_bins; ++k) ASSERT_GE(bank.row(m)[k], 0.0f);
    EXPECT_LT(bank.first[m], bank.last[m]) << "mel " << m;
  }
  // Slaney normalisation makes each triangle's area (in Hz) one. A 1 Hz bin grid
  // (n_fft = sample rate) integrates every filter accurately.
  const auto fine = mel_filterbank_slaney(16000, 16000, 40);
  for (std::size_t m = 0; m < fine.n_mels; ++m) {
    double area = 0;
    for (std::size_t k = 0; k < fine.n_bins; ++k) area += fine.row(m)[k] * 1.0;
    EXPECT_NEAR(area, 1.0, 1e-3) << "mel " << m;
  }
  EXPECT_THROW(mel_filterbank_slaney(16000, 0, 80), std::invalid_argument);
  EXPECT_THROW(mel_filterbank_slaney(16000, 400, 0), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::dsp
