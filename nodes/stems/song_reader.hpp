// Streams a song from disk as interleaved stereo frames at a chosen rate, with seeking: the
// deck's way of playing a 1-hour file in the memory of a 1-minute one.
//
// Any file libsndfile reads; channels become stereo exactly as dsp::convert_channels does for
// the offline path (mono duplicated, more channels downmixed); another rate is converted with
// dsp::Resampler (libsoxr HQ); NaN/Inf samples are read as 0 and counted.
//
// Seeking a resampled stream: output frame x lies at file time x / rate. The resampler starts
// at a frame x0 that falls exactly on a file frame (x0 a multiple of rate / gcd(rate,
// file rate)) a little before the target, so the phase is the one of a read from the start,
// and the frames before the target (the filter's warm-up) are read and dropped. Without
// resampling a seek is exact.
//
// Not for the audio thread: reads block on disk and may allocate (libsoxr). Buffers are sized
// by the block, never by the song.
#pragma once

#include "dsp/resampler.hpp"

#include <sndfile.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace earshot::stems {

class SongReader {
 public:
  // Throws dsp::AudioFileError (unreadable, no channels, not seekable, empty).
  SongReader(const std::string& path, int rate);
  ~SongReader();
  SongReader(const SongReader&) = delete;
  SongReader& operator=(const SongReader&) = delete;

  const std::string& path() const { return path_; }
  int rate() const { return rate_; }
  int file_rate() const { return file_rate_; }
  int file_channels() const { return file_channels_; }
  // The song's length at rate(): round(file frames * rate / file rate).
  std::int64_t frames() const { return frames_; }
  std::int64_t position() const { return position_; }
  std::uint64_t non_finite() const { return non_finite_; }

  // The next read() returns frames from `frame` on (clamped to [0, frames()]).
  void seek(std::int64_t frame);
  // Up to `max` interleaved stereo frames; returns how many (0 at the end of the song).
  std::int64_t read(float* out, std::int64_t max);

 private:
  // Fills ready_ with more converted frames; false at the end of the stream.
  bool refill();

  static constexpr std::int64_t kBlock = 4096;
  std::string path_;
  SNDFILE* file_ = nullptr;
  int rate_ = 0, file_rate_ = 0, file_channels_ = 0;
  std::int64_t file_frames_ = 0, frames_ = 0;
  std::int64_t step_out_ = 1, step_file_ = 1;  // rate / gcd, file rate / gcd
  std::unique_ptr<dsp::Resampler> resampler_;
  std::vector<float> block_, stereo_, ready_;
  std::int64_t ready_begin_ = 0, ready_end_ = 0;  // frames in ready_
  std::int64_t position_ = 0;                     // song frame of the next frame read() returns
  std::int64_t stream_ = 0;  // song frame of the next frame the stream will produce
  bool file_done_ = false, drained_ = false;
  std::uint64_t non_finite_ = 0;
};

}  // namespace earshot::stems
