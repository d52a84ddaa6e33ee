// Reading and writing audio files with libsndfile, for the file backend.
//
// AudioFileReader reads any format libsndfile reads and converts it to the stream's rate with
// StreamResampler. AudioFileWriter picks the format from the extension and writes to
// "<path>.partial", renaming it to <path> only on commit(), so a failed run never leaves a
// half-written file under the requested name.
#pragma once

#include "rt/backends/stream_resampler.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct sf_private_tag;

namespace earshot::rt {

class AudioFileReader {
 public:
  // Throws BackendError naming the file when it is missing or not audio libsndfile can read.
  explicit AudioFileReader(const std::string& path);
  ~AudioFileReader();
  AudioFileReader(const AudioFileReader&) = delete;
  AudioFileReader& operator=(const AudioFileReader&) = delete;

  const std::string& path() const { return path_; }
  double file_rate() const { return file_rate_; }
  std::uint32_t channels() const { return channels_; }
  std::int64_t file_frames() const { return file_frames_; }

  // Deliver frames at `rate` (resampling when it differs from the file's); reads will ask for at
  // most `max_read_frames` at a time. Allocates; call before reading.
  void prepare(double rate, std::size_t max_read_frames);
  // Reads up to `frames` interleaved frames at the prepared rate; fewer only at the end.
  std::size_t read(float* interleaved, std::size_t frames);
  bool at_end() const { return done_; }

 private:
  std::size_t read_file(float* interleaved, std::size_t frames);
  void refill();

  std::string path_;
  sf_private_tag* file_ = nullptr;
  double file_rate_ = 0;
  std::uint32_t channels_ = 0;
  std::int64_t file_frames_ = 0;
  std::unique_ptr<StreamResampler> resampler_;
  std::vector<float> raw_;  // file frames waiting to be resampled
  std::size_t raw_begin_ = 0, raw_end_ = 0;
  std::vector<float> pending_;  // resampled frames waiting to be read
  std::size_t pending_begin_ = 0, pending_end_ = 0;
  bool file_eof_ = false;
  bool done_ = false;
};

class AudioFileWriter {
 public:
  // Format from the extension: .wav .w64 .rf64 .aif/.aiff .au .caf (32-bit float), .flac
  // (24-bit), .ogg (Vorbis). Throws BackendError for other extensions or an unwritable place.
  AudioFileWriter(const std::string& path, double rate, std::uint32_t channels);
  ~AudioFileWriter();  // removes the partial file unless committed
  AudioFileWriter(const AudioFileWriter&) = delete;
  AudioFileWriter& operator=(const AudioFileWriter&) = delete;

  void write(const float* interleaved, std::size_t frames);
  // Closes the file and moves it to its final name.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, partial_path_;
  sf_private_tag* file_ = nullptr;
  std::uint32_t channels_;
};

}  // namespace earshot::rt
