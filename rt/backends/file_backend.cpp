#include "rt/backends/file_backend.hpp"

#include "rt/audio_thread_guard.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <limits>

namespace earshot::rt {

FileBackend::FileBackend(FileBackendOptions options) : options_(std::move(options)) {}

FileBackend::~FileBackend() {
  running_.store(false);
  if (thread_.joinable()) thread_.join();
  // A writer never committed (error, or destroyed without stop()) removes its partial file.
}

void FileBackend::open(const StreamConfig& config) {
  if (running_.load()) throw BackendError("file backend: open() while running; stop() first");
  if (options_.input_path.empty() && options_.length_frames == 0)
    throw BackendError("file backend: needs an input file or a length to run");
  opened_ = false;
  config_ = config;
  reader_.reset();
  writer_.reset();
  if (!options_.input_path.empty()) {
    reader_ = std::make_unique<AudioFileReader>(options_.input_path);
    if (config_.sample_rate <= 0) config_.sample_rate = reader_->file_rate();
  }
  if (!(config_.sample_rate > 0) || config_.sample_rate > 1'000'000)
    throw BackendError("file backend: sample rate must be between 1 and 1000000 Hz");
  if (config_.period_frames == 0 || config_.period_frames > (1u << 20))
    throw BackendError("file backend: period must be between 1 and 1048576 frames");
  if (reader_) reader_->prepare(config_.sample_rate, config_.period_frames);
  if (!options_.output_path.empty())
    writer_ = std::make_unique<AudioFileWriter>(options_.output_path, config_.sample_rate,
                                                config_.output_channels);
  const std::size_t period = config_.period_frames;
  file_frames_.assign(period * std::max<std::uint32_t>(1, input_file_channels()), 0.0f);
  in_.assign(config_.input_channels, std::vector<float>(period, 0.0f));
  out_.assign(config_.output_channels, std::vector<float>(period, 0.0f));
  in_ptrs_.clear();
  out_ptrs_.clear();
  for (auto& c : in_) in_ptrs_.push_back(c.data());
  for (auto& c : out_) out_ptrs_.push_back(c.data());
  out_interleaved_.assign(period * config_.output_channels, 0.0f);
  opened_ = true;
}

void FileBackend::start(AudioProcessor& processor) {
  if (!opened_) throw BackendError("file backend: start() before open()");
  if (running_.load()) throw BackendError("file backend: already started");
  processor_ = &processor;
  reset_status();
  skip_frames_ = processing_latency();
  frames_elapsed_.store(0);
  running_.store(true);
  thread_ = std::thread([this] { run(); });
}

void FileBackend::stop() {
  running_.store(false);
  if (thread_.joinable()) thread_.join();
  if (writer_ && !failed()) {
    writer_->commit();
  }
}

// One period: read input, run the processor, write the part of the output that belongs to the
// content (after the latency, before content end). Returns false once the run is complete.
bool FileBackend::run_period(std::uint64_t& content_frames) {
  const std::uint32_t period = config_.period_frames;
  const std::uint64_t first = frames_elapsed_.load(std::memory_order_relaxed);
  std::size_t got = 0;
  if (reader_ && !reader_->at_end()) {
    got = reader_->read(file_frames_.data(), period);
    if (got < period) content_frames = std::min(content_frames, first + got);
  }
  const std::uint32_t file_ch = input_file_channels();
  for (std::uint32_t c = 0; c < config_.input_channels; ++c) {
    float* dst = in_[c].data();
    for (std::size_t i = 0; i < got; ++i) dst[i] = file_frames_[i * file_ch + (c % file_ch)];
    std::fill(dst + got, dst + period, 0.0f);
  }
  {
    // Only the callback is the audio thread's business: the file I/O around it is not (and
    // would count as guard violations if the whole thread were marked).
    AudioThreadScope audio_thread;
    processor_->process(in_ptrs_.empty() ? nullptr : in_ptrs_.data(),
                        out_ptrs_.empty() ? nullptr : out_ptrs_.data(), period);
  }
  if (!options_.real_time) processor_->wait_until_caught_up();

  // Output frame t of the stream is content frame t - skip.
  const std::uint64_t end = content_frames == std::numeric_limits<std::uint64_t>::max()
                                ? std::numeric_limits<std::uint64_t>::max()
                                : content_frames + skip_frames_;
  if (writer_) {
    const std::uint64_t lo = std::max<std::uint64_t>(first, skip_frames_);
    const std::uint64_t hi = std::min<std::uint64_t>(first + period, end);
    if (hi > lo) {
      const std::uint32_t co = config_.output_channels;
      const std::size_t n = hi - lo, offset = lo - first;
      for (std::size_t i = 0; i < n; ++i)
        for (std::uint32_t c = 0; c < co; ++c) out_interleaved_[i * co + c] = out_[c][offset + i];
      writer_->write(out_interleaved_.data(), n);
    }
  }
  frames_elapsed_.store(first + period, std::memory_order_release);
  return first + period < end;
}

void FileBackend::run() noexcept {
  std::uint64_t content = options_.length_frames != 0 ? options_.length_frames
                                                      : std::numeric_limits<std::uint64_t>::max();
  const double period_ns = config_.period_frames * 1e9 / config_.sample_rate;
  timespec origin{};
  clock_gettime(CLOCK_MONOTONIC, &origin);
  std::uint64_t periods = 0;
  try {
    while (running_.load(std::memory_order_relaxed)) {
      if (!run_period(content)) {
        const std::string what = reader_ ? "reached the end of '" + reader_->path() + "'"
                                         : "reached the requested length";
        mark_finished(what.c_str(), false);
        return;
      }
      if (options_.real_time) {
        // Absolute deadlines from one origin: no drift over long files.
        const double due = static_cast<double>(++periods) * period_ns;
        timespec deadline = origin;
        const auto due_ns = static_cast<long long>(due);
        deadline.tv_sec += static_cast<time_t>(due_ns / 1'000'000'000);
        deadline.tv_nsec += static_cast<long>(due_ns % 1'000'000'000);
        if (deadline.tv_nsec >= 1'000'000'000) {
          deadline.tv_sec += 1;
          deadline.tv_nsec -= 1'000'000'000;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
        }
      }
    }
  } catch (const std::exception& e) {
    mark_finished(e.what(), true);
  }
}

}  // namespace earshot::rt
