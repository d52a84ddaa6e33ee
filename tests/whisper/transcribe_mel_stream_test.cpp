// WhisperMelStream serves the same normalised log-mel as whisper_log_mel_padded() of the whole
// file read at once (dsp::read_audio_mono_16k), value for value, for any window the seek logic
// asks for: 16 kHz mono, resampled stereo, and a recording longer than three windows.
#include "dsp/audio_file.hpp"
#include "models/whisper/whisper_mel_stream.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <random>

namespace earshot::models::whisper {
namespace {
namespace fs = std::filesystem;
using earshot::test::fixture;

// Reads windows at the given seeks (non-decreasing) from both and compares them exactly.
void expect_same_windows(const fs::path& file, int n_mels, const std::vector<int>& seeks) {
  const auto audio = dsp::read_audio_mono_16k(file);
  const auto whole = whisper_log_mel_padded(audio.samples, n_mels);
  const int frames = static_cast<int>(whole.size() / static_cast<std::size_t>(n_mels));
  MelSpanSource reference(whole, n_mels, frames);
  WhisperMelStream stream(file, n_mels);
  ASSERT_EQ(stream.content_frames(), reference.content_frames()) << file;
  EXPECT_EQ(stream.samples(), audio.samples.size());
  std::vector<float> want(static_cast<std::size_t>(n_mels) * 3000);
  std::vector<float> got(want.size());
  for (int seek : seeks) {
    const int size = std::min(3000, frames - seek);
    std::fill(want.begin(), want.end(), 0.0f);
    std::fill(got.begin(), got.end(), 0.0f);
    reference.read(seek, size, want.data());
    stream.read(seek, size, got.data());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < want.size(); ++i) mismatches += want[i] != got[i];
    EXPECT_EQ(mismatches, 0u) << file << " window at " << seek << ", max |diff| "
                              << earshot::test::whisper::max_abs_diff(want, got);
  }
}

fs::path temp_wav(const std::string& name) {
  return fs::temp_directory_path() /
         ("earshot_melstream_" + std::to_string(::getpid()) + "_" + name + ".wav");
}

TEST(WhisperMelStream, SpeechFixtureEqualsWholeFileMel) {
  const fs::path file = fixture("audio/speech_16k.wav");
  expect_same_windows(file, 80, {0, 0, 1, 333, 1000});
  expect_same_windows(file, 128, {0, 2999});
}

TEST(WhisperMelStream, ResampledStereoEqualsWholeFileMel) {
  expect_same_windows(fixture("audio/speech_48k_stereo.wav"), 80, {0, 17, 1500});
}

// 95 s of 44.1 kHz stereo (speech-like bursts over noise, a loud start so the global maximum
// lies in the first window): windows at the seeks a transcription takes, including ones that
// start mid-window and one inside the padding.
TEST(WhisperMelStream, LongResampledRecordingEqualsWholeFileMel) {
  const std::size_t frames = 95 * 44100;
  std::vector<float> stereo(2 * frames);
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  for (std::size_t t = 0; t < frames; ++t) {
    const double s = static_cast<double>(t) / 44100.0;
    const float burst = std::fmod(s, 3.0) < 1.2 ? 0.3f : 0.0f;
    const float tone = burst * static_cast<float>(std::sin(2.0 * M_PI * (180.0 + 40.0 * s) * s));
    stereo[2 * t] =
        tone + noise(rng) + (s < 0.5 ? 0.9f * static_cast<float>(std::sin(s * 900.0)) : 0.0f);
    stereo[2 * t + 1] = 0.5f * tone + noise(rng);
  }
  const fs::path file = temp_wav("long");
  dsp::write_wav_atomic(file, stereo, 2, 44100.0, dsp::WavEncoding::Float32);
  expect_same_windows(file, 80, {0, 0, 2480, 5480, 6001, 8999, 9500});
  fs::remove(file);
}

// NaN and Inf samples are read as 0 and counted, as dsp::read_audio_file does.
TEST(WhisperMelStream, NonFiniteSamplesReadAsZero) {
  std::vector<float> audio(16000 * 4, 0.1f);
  audio[100] = NAN;
  audio[2000] = INFINITY;
  audio[3000] = -INFINITY;
  const fs::path file = temp_wav("nan");
  dsp::write_wav_atomic(file, audio, 1, 16000.0, dsp::WavEncoding::Float32);
  // write_wav_atomic writes NaN/Inf as 0, so patch the float data back in: the file must hold
  // the non-finite values for this test.
  {
    std::FILE* f = std::fopen(file.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::vector<char> bytes(static_cast<std::size_t>(fs::file_size(file)));
    ASSERT_EQ(std::fread(bytes.data(), 1, bytes.size(), f), bytes.size());
    const std::size_t data = bytes.size() - audio.size() * sizeof(float);
    for (std::size_t i : {100u, 2000u, 3000u}) {
      std::fseek(f, static_cast<long>(data + i * sizeof(float)), SEEK_SET);
      std::fwrite(&audio[i], sizeof(float), 1, f);
    }
    std::fclose(f);
  }
  WhisperMelStream stream(file, 80);
  EXPECT_EQ(stream.non_finite_replaced(), 3u);
  expect_same_windows(file, 80, {0});
  fs::remove(file);
}

TEST(WhisperMelStream, WindowsMustComeInOrder) {
  WhisperMelStream stream(fixture("audio/speech_16k.wav"), 80);
  std::vector<float> window(80u * 3000);
  stream.read(1000, 100, window.data());
  EXPECT_THROW(stream.read(0, 100, window.data()), std::logic_error);
  EXPECT_THROW(WhisperMelStream(fixture("audio/missing.wav"), 80), dsp::AudioFileError);
}

}  // namespace
}  // namespace earshot::models::whisper
