#include "nodes/caption/caption_session.hpp"

#include "models/vad/silero_weights.hpp"
#include "models/whisper/parallel.hpp"
#include "models/whisper/tokenizer.hpp"
#include "nodes/caption/caption_capture.hpp"
#include "nodes/caption/caption_writer.hpp"
#include "rt/backends/audio_file.hpp"
#include "rt/backends/file_backend.hpp"
#include "rt/backends/jack_backend.hpp"
#include "rt/backends/portaudio_backend.hpp"
#include "rt/default_budget.hpp"
#include "rt/memory_budget.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

namespace earshot::nodes::caption {
namespace {

namespace ww = models::whisper;

// The output file, closed (and checked) on every path out.
struct OutputFile {
  std::FILE* file = nullptr;
  bool owned = false;
  ~OutputFile() {
    if (owned && file != nullptr) std::fclose(file);
  }
  void close(const std::string& path) {
    if (!owned || file == nullptr) return;
    const bool ok = std::fflush(file) == 0 && std::ferror(file) == 0;
    const bool closed = std::fclose(file) == 0;
    file = nullptr;
    if (!ok || !closed) throw std::runtime_error("caption: writing '" + path + "' failed");
  }
};

}  // namespace

CaptionRunReport run_caption(const CaptionRunOptions& o, std::FILE* out, std::FILE* report,
                             const std::atomic<bool>* stop_requested) {
  const CaptionFormat format = parse_caption_format(o.format);
  if (o.period == 0 || o.period > 16384) throw std::invalid_argument("caption: bad period");
  o.caption.validate();

  // Default: half of the machine's memory.
  rt::MemoryBudget budget(o.budget_mb ? o.budget_mb << 20 : rt::default_budget_bytes(0.5));
  const auto model = ww::WhisperModel::load(o.model, budget);

  std::optional<ww::Tokenizer> tokenizer;
  try {
    std::vector<std::filesystem::path> dirs;
    if (!o.tokenizer.empty()) dirs.emplace_back(o.tokenizer);
    dirs.emplace_back(o.model);
    tokenizer.emplace(ww::Tokenizer::load(dirs));
  } catch (const std::exception& e) {
    // JSON lines carry token ids, so they work without text; the other formats need text.
    if (!o.tokenizer.empty() || format != CaptionFormat::kJsonl)
      throw std::runtime_error(std::string("tokenizer: ") + e.what());
    std::fprintf(report, "earshot caption: warning: no tokenizer (%s); text left empty\n",
                 e.what());
  }
  if (tokenizer) tokenizer->expect_vocab_size(model->config.n_vocab);

  std::optional<models::vad::SileroWeights> vad_weights;
  if (!o.vad_model.empty())
    vad_weights.emplace(models::vad::load_silero_weights(o.vad_model, budget));

  CaptionOptions copt = o.caption;
  copt.event_capacity = std::max<std::size_t>(copt.event_capacity, 1024);
  const int threads = o.threads > 0
                          ? o.threads
                          : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 8);
  ww::ThreadTeam team(threads);  // created once; the node's passes borrow it
  CaptionNode node(*model, copt, vad_weights ? &*vad_weights : nullptr);
  node.prepare(budget, &team);

  // The backend: microphone, JACK, or a file.
  rt::StreamConfig sc;
  sc.client_name = "earshot-caption";
  sc.period_frames = o.period;
  sc.input_channels = 1;
  sc.output_channels = 0;
  std::unique_ptr<rt::AudioBackend> backend;
  rt::JackBackend* jack = nullptr;
  if (o.input == "mic") {
    rt::PortAudioOptions po;
    po.input_device = o.device;
    sc.sample_rate = 0;  // the device's default rate; resampled to 16 kHz on the worker
    backend = std::make_unique<rt::PortAudioBackend>(po);
  } else if (o.input == "jack") {
    auto b = std::make_unique<rt::JackBackend>();
    jack = b.get();
    backend = std::move(b);
  } else {
    rt::AudioFileReader probe(o.input);  // clear error for a missing or unreadable file
    sc.input_channels = probe.channels();
    sc.sample_rate = probe.file_rate();
    rt::FileBackendOptions fo;
    fo.input_path = o.input;
    fo.real_time = o.realtime;
    backend = std::make_unique<rt::FileBackend>(fo);
  }
  backend->open(sc);
  const double rate = backend->sample_rate();
  const std::uint32_t channels = std::max<std::uint32_t>(1, backend->input_channels());

  CaptionCapture capture(channels, static_cast<std::size_t>(rate * o.ring_seconds),
                         std::max<std::uint32_t>(backend->period_frames(), 4096));
  CaptionFeeder feeder(capture, node, rate);
  rt::WorkerThread worker("earshot-caption", [&feeder] { feeder.run(); });
  capture.set_worker(&worker);

  OutputFile file;
  file.file = out;
  if (!o.output.empty()) {
    file.file = std::fopen(o.output.c_str(), "w");
    if (file.file == nullptr) throw std::runtime_error("caption: cannot write '" + o.output + "'");
    file.owned = true;
  }
  CaptionWriter writer(file.file, format, tokenizer ? &*tokenizer : nullptr,
                       o.live && o.output.empty());
  auto drain = [&] {
    CaptionEvent e;
    while (node.events().try_dequeue(e)) writer.write(e);
  };

  const auto t0 = std::chrono::steady_clock::now();
  backend->start(capture);
  if (jack != nullptr) jack->connect_physical_ports();
  auto stop_now = [&] {
    return (stop_requested != nullptr && stop_requested->load()) || backend->finished() ||
           worker.failed();
  };
  while (!stop_now()) {
    drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  backend->stop();
  worker.stop();
  worker.rethrow_if_failed();
  // The audio has stopped and the worker is joined: the rest of the stream is finished here.
  feeder.finish();
  drain();
  writer.close();
  file.close(o.output);
  if (backend->failed()) throw rt::BackendError(backend->finish_message());

  CaptionRunReport r;
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.stats = node.stats();
  r.audio_seconds = r.stats.audio_seconds;
  // The worker's busy time: Whisper passes and the VAD (which runs on every sample pushed).
  r.compute_seconds = r.stats.compute_seconds + r.stats.vad_seconds;
  r.real_time_factor = r.audio_seconds > 0 ? r.compute_seconds / r.audio_seconds : 0.0;
  r.latency_p50 = percentile(writer.commit_latencies(), 50);
  r.latency_p95 = percentile(writer.commit_latencies(), 95);
  r.commits = writer.commits();
  r.token_latency_p50 = percentile(writer.token_latencies(), 50);
  r.token_latency_p95 = percentile(writer.token_latencies(), 95);
  r.committed_tokens = writer.token_latencies().size();
  r.utterance_latency_p50 = percentile(writer.utterance_latencies(), 50);
  r.utterance_latency_p95 = percentile(writer.utterance_latencies(), 95);
  r.utterance_ends = writer.utterance_latencies().size();
  r.dropped_seconds = static_cast<double>(capture.dropped_frames()) / rate;
  r.dropped_events = r.stats.dropped_events;
  r.xruns = backend->xruns();
  r.peak_bytes = budget.peak();
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0)
    r.peak_rss_bytes = static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux: KiB
  r.committed_text = writer.committed_text();
  if (report != nullptr) {
    std::fprintf(
        report,
        "earshot caption: %.2f s of audio in %.2f s, real-time factor %.3f (worker busy %.2f "
        "s: Whisper %.2f s in %llu passes, VAD %.2f s; %llu steps gated by VAD, %d threads)\n"
        "commit latency p50 %.2f s, p95 %.2f s over %zu commits; dropped audio %.2f s, "
        "dropped events %llu, xruns %llu; peak memory %s budget, %s process RSS (language "
        "%s)\n",
        r.audio_seconds, r.wall_seconds, r.real_time_factor, r.compute_seconds,
        r.stats.compute_seconds, static_cast<unsigned long long>(r.stats.passes),
        r.stats.vad_seconds, static_cast<unsigned long long>(r.stats.gated_steps), threads,
        r.latency_p50, r.latency_p95, r.commits, r.dropped_seconds,
        static_cast<unsigned long long>(r.dropped_events), static_cast<unsigned long long>(r.xruns),
        rt::format_bytes(r.peak_bytes).c_str(), rt::format_bytes(r.peak_rss_bytes).c_str(),
        node.language().empty() ? "-" : node.language().c_str());
    std::fprintf(report,
                 "commit latency per token p50 %.2f s, p95 %.2f s over %zu tokens; per utterance "
                 "end p50 %.2f s, p95 %.2f s over %zu ends (VAD); early confirmations %llu run, "
                 "%llu shed (--confirm-ms %d)\n",
                 r.token_latency_p50, r.token_latency_p95, r.committed_tokens,
                 r.utterance_latency_p50, r.utterance_latency_p95, r.utterance_ends,
                 static_cast<unsigned long long>(r.stats.confirm_passes),
                 static_cast<unsigned long long>(r.stats.confirms_shed), copt.confirm_ms);
    const CaptionStats& st = r.stats;
    std::fprintf(report,
                 "pass time: log-mel %.2f s, encoder %.2f s, decode %.2f s; mean audio context "
                 "%.0f positions (%.1f s)\n",
                 st.mel_seconds, st.encoder_seconds, st.decode_seconds,
                 st.passes ? static_cast<double>(st.audio_ctx_sum) / st.passes : 0.0,
                 st.passes ? 0.02 * static_cast<double>(st.audio_ctx_sum) / st.passes : 0.0);
  }
  return r;
}

}  // namespace earshot::nodes::caption
