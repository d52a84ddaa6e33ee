// An audio file as the live input of a device backend (`earshot monitor --input FILE --output
// jack`): a reader thread decodes (and resamples) the file into an SPSC ring ahead of time; the
// audio thread only copies out of the ring. If the reader falls behind, the callback plays
// silence and counts an underrun instead of waiting.
#pragma once

#include "rt/backends/audio_file.hpp"
#include "rt/backends/ring_pipeline.hpp"
#include "rt/ring_buffer.hpp"

#include <atomic>
#include <thread>
#include <vector>

namespace earshot::rt {

class FileInputGenerator final : public InputGenerator {
 public:
  // Reads `path` at `rate` (resampled if the file differs). Throws BackendError for a bad file.
  FileInputGenerator(const std::string& path, double rate, std::uint32_t max_period);
  ~FileInputGenerator() override;

  std::uint32_t file_channels() const { return reader_.channels(); }
  // Starts the reader thread and waits until the ring holds a head start (or the whole file).
  void start();
  void stop();

  // Audio thread: output channel c is file channel c % file_channels.
  void generate(float* const* out, std::uint32_t channels, std::uint32_t frames) noexcept override;

  // The whole file has been played.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  std::uint64_t underruns() const { return underruns_.load(std::memory_order_relaxed); }
  // Set when reading failed (the message is then in error()); playback ends early.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const std::string& error() const { return error_; }

 private:
  void read_loop();

  AudioFileReader reader_;
  const std::uint32_t chunk_frames_;
  SpscRing<float> ring_;
  std::vector<float> read_buffer_;  // reader thread
  std::vector<float> scratch_;      // audio thread
  std::atomic<bool> eof_{false}, finished_{false}, failed_{false}, running_{false};
  std::atomic<std::uint64_t> underruns_{0};
  std::string error_;
  std::thread thread_;
};

}  // namespace earshot::rt
