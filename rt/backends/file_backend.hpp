// The file backend: input from an audio file (any format libsndfile reads, resampled to the
// stream rate), output to an audio file, run as fast as possible or paced like a device.
//
// It owns its clock (a thread started by start()). Input channel c of the stream is file
// channel c % file_channels, so a mono file feeds every channel. Without an input file the
// input is silence and `length_frames` says how long to run.
//
// Latency compensation: set_processing_latency(L) (the pipeline's latency) makes the backend
// run L frames past the end of the input and drop the first L output frames, so the output file
// is exactly as long as the input and aligned with it.
//
// File reading and writing happen on the backend's thread between callbacks, never inside the
// processor's callback.
#pragma once

#include "rt/backends/audio_backend.hpp"
#include "rt/backends/audio_file.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace earshot::rt {

struct FileBackendOptions {
  std::string input_path;   // empty: silent input
  std::string output_path;  // empty: output discarded
  bool real_time = false;   // pace periods at the sample rate instead of running flat out
  // Frames to run; 0 = until the input file ends. With both, whichever comes first.
  std::uint64_t length_frames = 0;
};

class FileBackend final : public AudioBackend {
 public:
  explicit FileBackend(FileBackendOptions options);
  ~FileBackend() override;

  std::string name() const override { return "file"; }
  // config.sample_rate <= 0 means "the input file's rate". Throws for unreadable input,
  // unwritable output, or nothing that would end the run.
  void open(const StreamConfig& config) override;
  void start(AudioProcessor& processor) override;
  // Joins the thread and finishes the output file (renamed into place).
  void stop() override;

  double sample_rate() const override { return config_.sample_rate; }
  std::uint32_t period_frames() const override { return config_.period_frames; }
  std::uint32_t input_channels() const override { return config_.input_channels; }
  std::uint32_t output_channels() const override { return config_.output_channels; }
  BackendLatency latency() const override { return {}; }

  // The input file's channel count and rate (0 without an input file); valid after open().
  std::uint32_t input_file_channels() const { return reader_ ? reader_->channels() : 0; }
  double input_file_rate() const { return reader_ ? reader_->file_rate() : 0.0; }
  std::uint64_t frames_elapsed() const { return frames_elapsed_.load(std::memory_order_acquire); }

 private:
  void run() noexcept;
  bool run_period(std::uint64_t& content_frames);

  FileBackendOptions options_;
  StreamConfig config_;
  std::unique_ptr<AudioFileReader> reader_;
  std::unique_ptr<AudioFileWriter> writer_;
  AudioProcessor* processor_ = nullptr;
  std::vector<float> file_frames_;  // interleaved, file channels
  std::vector<std::vector<float>> in_, out_;
  std::vector<float*> in_ptrs_, out_ptrs_;
  std::vector<float> out_interleaved_;
  std::uint32_t skip_frames_ = 0;
  bool opened_ = false;
  std::atomic<std::uint64_t> frames_elapsed_{0};
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace earshot::rt
