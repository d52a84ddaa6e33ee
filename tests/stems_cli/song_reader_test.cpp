// SongReader, the deck's disk streamer: reads equal the whole-file reading of the offline path
// (dsp::read_audio_as), after seeks too. Without resampling a seek is exact; with resampling the
// reader restarts the resampler where both rates meet, a warm-up before the target, so it
// differs from the whole-file resampling only by float rounding (bounded here by 1e-5, far
// below the 1e-4 the HTDemucs fixtures allow).
#include "nodes/stems/song_reader.hpp"

#include "dsp/audio_file.hpp"
#include "dsp/resampler.hpp"
#include "tests/test_support.hpp"

#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace earshot::stems {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::temp_directory_path() /
             ("earshot_song_reader_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempFile() { fs::remove(path); }
};

// Max |reader frames [from, from + n) - whole[from, from + n)| after seek(from).
double seek_and_compare(SongReader& reader, const std::vector<float>& whole, std::int64_t from,
                        std::int64_t n) {
  reader.seek(from);
  std::vector<float> got(static_cast<std::size_t>(n) * 2);
  std::int64_t done = 0;
  while (done < n) {
    const std::int64_t r =
        reader.read(got.data() + done * 2, std::min<std::int64_t>(999, n - done));
    if (r == 0) break;
    done += r;
  }
  EXPECT_EQ(done, n);
  double max_abs = 0.0;
  for (std::int64_t i = 0; i < n * 2; ++i)
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(got[i] - whole[from * 2 + i])));
  return max_abs;
}

const fs::path kMusic = test::fixture("audio/music_44k_stereo.wav");

TEST(SongReader, AtTheFileRateReadsAndSeeksExactly) {
  const auto whole = dsp::read_audio_stereo_44k(kMusic);
  SongReader reader(kMusic.string(), 44100);
  ASSERT_EQ(reader.frames(), static_cast<std::int64_t>(whole.frames()));
  EXPECT_EQ(seek_and_compare(reader, whole.samples, 0, reader.frames()), 0.0);
  EXPECT_EQ(seek_and_compare(reader, whole.samples, 123457, 50000), 0.0);
  EXPECT_EQ(seek_and_compare(reader, whole.samples, 7, 1000), 0.0);  // backwards
  reader.seek(reader.frames());
  float frame[2];
  EXPECT_EQ(reader.read(frame, 1), 0);
}

TEST(SongReader, ResampledReadsAndSeeksMatchTheWholeFile) {
  const auto music = dsp::read_audio_stereo_44k(kMusic);
  TempFile file("48k.wav");
  dsp::write_wav_atomic(file.path, dsp::resample(music.samples, 2, 44100, 48000), 2, 48000);
  const auto whole = dsp::read_audio_as(file.path, 44100, 2);
  SongReader reader(file.path.string(), 44100);
  EXPECT_EQ(reader.file_rate(), 48000);
  ASSERT_NEAR(static_cast<double>(reader.frames()), static_cast<double>(whole.frames()), 1.0);
  const std::int64_t n = std::min<std::int64_t>(reader.frames(), whole.frames());
  EXPECT_LE(seek_and_compare(reader, whole.samples, 0, n), 1e-5);
  for (const std::int64_t at :
       {std::int64_t{300000}, std::int64_t{44100 * 3 + 17}, std::int64_t{5}})
    EXPECT_LE(seek_and_compare(reader, whole.samples, at, 40000), 1e-5) << "after seek to " << at;
}

TEST(SongReader, ChannelsAndNonFiniteSamplesAsTheOfflinePath) {
  const auto music = dsp::read_audio_stereo_44k(kMusic);
  const std::size_t T = 44100;
  std::vector<float> surround(T * 8);
  for (std::size_t t = 0; t < T; ++t)
    for (int c = 0; c < 8; ++c)
      surround[t * 8 + c] = music.samples[t * 2 + c % 2] * (1.0f - 0.1f * c);
  surround[8 * 100 + 3] = NAN;
  TempFile file("71.wav");
  dsp::write_wav_atomic(file.path, surround, 8, 44100);  // writes NaN as 0...
  {
    // ...so put the NaN in with libsndfile directly: float WAV keeps it.
    SF_INFO info{};
    info.channels = 8;
    info.samplerate = 44100;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(file.path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr);
    sf_writef_float(f, surround.data(), static_cast<sf_count_t>(T));
    sf_close(f);
  }
  const auto whole = dsp::read_audio_stereo_44k(file.path);  // NaN -> 0, then downmix
  EXPECT_EQ(whole.non_finite_replaced, 1u);
  SongReader reader(file.path.string(), 44100);
  EXPECT_EQ(reader.file_channels(), 8);
  EXPECT_EQ(seek_and_compare(reader, whole.samples, 0, static_cast<std::int64_t>(T)), 0.0);
  EXPECT_EQ(reader.non_finite(), 1u);
}

TEST(SongReader, BadFilesAreClearErrors) {
  TempFile text("notes.wav");
  {
    std::FILE* f = std::fopen(text.path.c_str(), "w");
    std::fputs("not audio\n", f);
    std::fclose(f);
  }
  try {
    SongReader reader(text.path.string(), 44100);
    FAIL() << "text was accepted";
  } catch (const dsp::AudioFileError& e) {
    EXPECT_NE(std::string(e.what()).find(text.path.string()), std::string::npos) << e.what();
  }
  TempFile empty("empty.wav");
  dsp::write_wav_atomic(empty.path, {}, 2, 44100);
  try {
    SongReader reader(empty.path.string(), 44100);
    FAIL() << "an empty file was accepted";
  } catch (const dsp::AudioFileError& e) {
    EXPECT_NE(std::string(e.what()).find("no audio frames"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace earshot::stems
