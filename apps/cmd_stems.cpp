// `earshot stems`: separate an audio file into stems with HTDemucs (drums, bass, other,
// vocals; guitar and piano with htdemucs_6s; htdemucs_ft as a bag of four models).
//
// The file is streamed: read in blocks with libsndfile, converted to stereo (mono duplicated,
// more channels downmixed), resampled to the model's rate, cut into overlapping chunks exactly
// like demucs' apply_model, and every stem is written as soon as its samples are final. Memory
// is bounded by the chunk, not the song. Stems go to hidden temporary files beside the targets
// and are renamed into place only after the whole song succeeded, so an error or Ctrl-C never
// leaves a truncated DIR/<source>.wav (an older one stays as it was).
#include "apps/command.hpp"
#include "dsp/audio_file.hpp"
#include "dsp/resampler.hpp"
#include "models/htdemucs/separator.hpp"
#include "nodes/stems/live_stems_session.hpp"
#include "rt/default_budget.hpp"
#include "rt/memory_budget.hpp"
#include "rt/stop_signal.hpp"
#include "rt/thread_team.hpp"

#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace earshot::app {
namespace {

namespace fs = std::filesystem;
namespace htd = htdemucs;

struct StemsOptions {
  std::string model;
  std::string input;
  std::string out_dir;
  double segment = 0.0;  // seconds; 0: the model's training segment
  double overlap = 0.25;
  bool float_output = false;
  double budget_mb = 0.0;  // 0: three quarters of the machine's memory
  bool jack = false;       // live: separate JACK input (nodes/stems)
  std::string client_name = "earshot-stems";
  int threads = 0;  // 0: one per hardware core
};

int thread_count(int requested) {
  if (requested < 0) throw std::invalid_argument("--threads must be at least 1");
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

// Reads any libsndfile format block by block as interleaved stereo (or `channels`) frames at
// `rate`, resampling on the fly. NaN/Inf samples are read as 0 and counted.
class StreamingReader {
 public:
  StreamingReader(const std::string& path, double rate, int channels) : channels_(channels) {
    SF_INFO info{};
    file_ = sf_open(path.c_str(), SFM_READ, &info);
    if (file_ == nullptr)
      throw dsp::AudioFileError(path + ": cannot read audio: " + sf_strerror(nullptr));
    if (info.channels <= 0 || info.samplerate <= 0)
      throw dsp::AudioFileError(path + ": no audio channels or sample rate");
    in_channels_ = info.channels;
    in_rate_ = info.samplerate;
    estimated_frames_ = static_cast<std::int64_t>(
        std::ceil(static_cast<double>(info.frames) * rate / info.samplerate));
    if (in_rate_ != rate) resampler_ = std::make_unique<dsp::Resampler>(in_rate_, rate, channels);
    block_.resize(static_cast<std::size_t>(kBlock) * in_channels_);
  }
  ~StreamingReader() {
    if (file_ != nullptr) sf_close(file_);
  }
  StreamingReader(const StreamingReader&) = delete;
  StreamingReader& operator=(const StreamingReader&) = delete;

  std::int64_t estimated_frames() const { return estimated_frames_; }
  std::size_t non_finite() const { return non_finite_; }
  double input_rate() const { return in_rate_; }

  // Next frames (interleaved, `channels`); empty at the end of the file.
  const std::vector<float>& next() {
    out_.clear();
    while (out_.empty() && !finished_) {
      const sf_count_t got = sf_readf_float(file_, block_.data(), kBlock);
      if (got < 0) throw dsp::AudioFileError("read error: " + std::string(sf_strerror(file_)));
      if (got == 0) {
        finished_ = true;
        if (resampler_) drain();
        break;
      }
      std::span<float> samples(block_.data(), static_cast<std::size_t>(got) * in_channels_);
      for (float& v : samples) {
        if (!std::isfinite(v)) {
          v = 0.0f;
          ++non_finite_;
        }
      }
      auto converted = dsp::convert_channels(samples, static_cast<std::size_t>(in_channels_),
                                             static_cast<std::size_t>(channels_));
      if (!resampler_) {
        out_ = std::move(converted);
      } else {
        const std::size_t frames = converted.size() / channels_;
        out_.resize(resampler_->output_capacity(frames) * channels_);
        const std::size_t made = resampler_->process(converted, out_);
        out_.resize(made * channels_);
      }
    }
    return out_;
  }

 private:
  void drain() {
    std::vector<float> tail;
    for (;;) {
      tail.resize(resampler_->output_capacity(kBlock) * channels_);
      const std::size_t made = resampler_->flush(tail);
      if (made == 0) break;
      out_.insert(out_.end(), tail.begin(), tail.begin() + made * channels_);
    }
  }

  static constexpr sf_count_t kBlock = 65536;
  SNDFILE* file_ = nullptr;
  int channels_;
  int in_channels_ = 0;
  double in_rate_ = 0;
  std::int64_t estimated_frames_ = 0;
  std::unique_ptr<dsp::Resampler> resampler_;
  std::vector<float> block_, out_;
  std::size_t non_finite_ = 0;
  bool finished_ = false;
};

// A WAV file written incrementally to a hidden temporary beside `target`; commit() syncs it
// and renames it into place, and the destructor removes it if commit() never happened.
class AtomicWavWriter {
 public:
  AtomicWavWriter(const fs::path& target, int channels, int rate, bool float_output)
      : target_(target) {
    std::string temp =
        (target.parent_path() / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    const int fd = mkstemp(temp.data());
    if (fd < 0) throw dsp::AudioFileError(target.string() + ": cannot create a temporary file");
    temp_ = temp;
    fchmod(fd, 0644);
    SF_INFO info{};
    info.channels = channels;
    info.samplerate = rate;
    info.format = SF_FORMAT_WAV | (float_output ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16);
    file_ = sf_open_fd(fd, SFM_WRITE, &info, SF_TRUE);
    if (file_ == nullptr) {
      ::close(fd);
      fs::remove(temp_);
      throw dsp::AudioFileError(target.string() + ": cannot write WAV: " + sf_strerror(nullptr));
    }
    sf_command(file_, SFC_SET_CLIPPING, nullptr, SF_TRUE);  // PCM16: clip, never wrap
  }
  ~AtomicWavWriter() {
    if (file_ != nullptr) sf_close(file_);
    if (!committed_) {
      std::error_code ignored;
      fs::remove(temp_, ignored);
    }
  }
  AtomicWavWriter(const AtomicWavWriter&) = delete;
  AtomicWavWriter& operator=(const AtomicWavWriter&) = delete;

  void write(const float* interleaved, std::int64_t frames) {
    if (sf_writef_float(file_, interleaved, frames) != frames)
      throw dsp::AudioFileError(target_.string() + ": write failed: " + sf_strerror(file_));
  }
  void commit() {
    sf_write_sync(file_);
    const int err = sf_close(file_);
    file_ = nullptr;
    if (err != 0) throw dsp::AudioFileError(target_.string() + ": closing failed");
    std::error_code ec;
    fs::rename(temp_, target_, ec);
    if (ec) throw dsp::AudioFileError(target_.string() + ": rename failed: " + ec.message());
    committed_ = true;
  }

 private:
  fs::path target_, temp_;
  SNDFILE* file_ = nullptr;
  bool committed_ = false;
};

// "[#########.........]  45%  chunk 9/20  12.3 s, ETA 15.0 s" on a terminal, nothing otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled), start_(Clock::now()) {}
  void update(std::int64_t done, std::int64_t total) {
    if (!enabled_ || total <= 0) return;
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
    constexpr int kWidth = 30;
    std::string bar(kWidth, '.');
    for (int i = 0; i < static_cast<int>(frac * kWidth); ++i) bar[i] = '#';
    std::fprintf(stderr, "\r[%s] %3d%%  chunk %lld/%lld  %.1f s, ETA %.1f s   ", bar.c_str(),
                 static_cast<int>(frac * 100), static_cast<long long>(done),
                 static_cast<long long>(total), elapsed, eta);
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  Clock::time_point start_;
};

// Three quarters of the machine's memory: HTDemucs is the only large thing running.
std::size_t default_budget_bytes() {
  return rt::default_budget_bytes(0.75);
}

int run_stems(const StemsOptions& o) {
  if (o.jack) {
    stems::LiveSessionOptions live;
    live.model = o.model;
    live.client_name = o.client_name;
    live.segment_seconds = o.segment;
    live.overlap = o.overlap;
    live.budget_bytes = o.budget_mb > 0 ? static_cast<std::size_t>(o.budget_mb * 1024 * 1024)
                                        : default_budget_bytes();
    live.threads = thread_count(o.threads);
    return stems::run_live_stems(live);
  }
  if (o.input.empty() || o.out_dir.empty())
    throw std::invalid_argument("FILE and --out are required (or --jack to separate live input)");
  // Ctrl-C / SIGTERM only set a flag, checked between chunks, so the temporaries are removed
  // and no stem is left half-written.
  const rt::ScopedStopSignal interrupt;
  if (o.overlap < 0.0 || o.overlap >= 1.0)
    throw std::invalid_argument("--overlap must be in [0, 1)");
  if (o.segment < 0.0) throw std::invalid_argument("--segment must be positive");
  const std::size_t budget_bytes = o.budget_mb > 0
                                       ? static_cast<std::size_t>(o.budget_mb * 1024 * 1024)
                                       : default_budget_bytes();
  rt::MemoryBudget budget(budget_bytes);
  rt::ThreadTeam team(thread_count(o.threads));  // outlives the model
  htd::ModelBag bag = htd::ModelBag::load(o.model, budget, &team);
  const int C = bag.audio_channels(), S = bag.num_sources();
  htd::SeparatorOptions sep_options;
  sep_options.overlap = o.overlap;
  // apply_model: segment_length = int(samplerate * segment).
  if (o.segment > 0) sep_options.segment = static_cast<std::int64_t>(bag.samplerate() * o.segment);
  if (o.segment > 0 && sep_options.segment < 1) throw std::invalid_argument("--segment too short");

  StreamingReader reader(o.input, bag.samplerate(), C);
  htd::ChunkedSeparator sep(bag, htd::ChunkedSeparator::kUnknownLength, sep_options, budget);

  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (!fs::is_directory(o.out_dir))
    throw std::runtime_error(o.out_dir + ": cannot create the output directory");
  std::vector<std::unique_ptr<AtomicWavWriter>> writers;
  for (const auto& source : bag.config().sources)
    writers.push_back(std::make_unique<AtomicWavWriter>(fs::path(o.out_dir) / (source + ".wav"), C,
                                                        bag.samplerate(), o.float_output));

  ProgressBar progress(isatty(STDERR_FILENO) != 0);
  const std::int64_t estimated_chunks =
      std::max<std::int64_t>(1, (reader.estimated_frames() + sep.stride() - 1) / sep.stride());
  std::vector<float> interleaved(static_cast<std::size_t>(sep.stride()) * C);
  const std::vector<float>* pending = nullptr;
  std::size_t pending_pos = 0;
  bool input_ended = false;
  while (!sep.done()) {
    if (interrupt.requested()) throw std::runtime_error("interrupted; no stems were written");
    if (sep.ready()) {
      const std::int64_t n = sep.process();
      for (int s = 0; s < S; ++s) {
        for (std::int64_t t = 0; t < n; ++t)
          for (int c = 0; c < C; ++c) interleaved[t * C + c] = sep.output(s, c)[t];
        writers[s]->write(interleaved.data(), n);
      }
      progress.update(sep.chunks_done(), sep.chunks() > 0 ? sep.chunks() : estimated_chunks);
      continue;
    }
    if (pending == nullptr || pending_pos == pending->size()) {
      if (input_ended) {
        // finish() refuses an input without a single frame.
        sep.finish();
        continue;
      }
      pending = &reader.next();
      pending_pos = 0;
      if (pending->empty()) input_ended = true;
      continue;
    }
    const std::int64_t avail = static_cast<std::int64_t>(pending->size() - pending_pos) / C;
    const std::int64_t n = std::min(avail, sep.frames_wanted());
    sep.push(pending->data() + pending_pos, n);
    pending_pos += static_cast<std::size_t>(n) * C;
  }
  progress.finish();
  for (auto& w : writers) w->commit();
  if (reader.non_finite() != 0)
    std::fprintf(stderr, "earshot stems: warning: %zu NaN/Inf samples in %s were read as 0\n",
                 reader.non_finite(), o.input.c_str());
  if (reader.input_rate() != bag.samplerate())
    std::fprintf(stderr, "earshot stems: note: resampled %g Hz -> %d Hz\n", reader.input_rate(),
                 bag.samplerate());
  return 0;
}

const RegisterCommand kRegisterStems{Command{
    "stems",
    "Separate an audio file into stems with HTDemucs (writes OUT/<source>.wav, 44.1 kHz stereo)",
    [](CLI::App& sub) -> RunFn {
      auto options = std::make_shared<StemsOptions>();
      sub.add_option("--model", options->model,
                     "Model directory: config.json + model.safetensors, or a bag (htdemucs_ft) "
                     "made by tools/convert_htdemucs.py")
          ->required();
      sub.add_option("file", options->input, "Input audio (any format libsndfile reads)");
      sub.add_option("--out", options->out_dir, "Output directory for <source>.wav");
      sub.add_flag("--jack", options->jack,
                   "Live: a JACK client with in_L/in_R and <source>_L/_R outputs (no FILE)");
      sub.add_option("--client-name", options->client_name, "JACK client name (with --jack)")
          ->capture_default_str();
      sub.add_option("--segment", options->segment,
                     "Chunk length in seconds (at most the model's training segment; default: "
                     "the training segment)");
      sub.add_option("--overlap", options->overlap, "Overlap between chunks, in [0, 1)")
          ->capture_default_str();
      sub.add_flag("--float", options->float_output, "Write 32-bit float WAV (default 16-bit PCM)");
      sub.add_option("--threads", options->threads,
                     "Threads separating (default: one per hardware core)");
      sub.add_option("--budget-mb", options->budget_mb,
                     "Memory budget in MiB (default: 3/4 of the machine's memory)");
      return [options] { return run_stems(*options); };
    }}};

}  // namespace
}  // namespace earshot::app
