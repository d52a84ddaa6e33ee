#include "rt/backends/monitor_session.hpp"

#include "rt/backends/file_backend.hpp"
#include "rt/backends/file_input_generator.hpp"
#include "rt/backends/jack_backend.hpp"
#include "rt/backends/portaudio_backend.hpp"
#include "rt/backends/resampling_node.hpp"
#include "rt/backends/ring_pipeline.hpp"
#include "rt/backends/tone_generator.hpp"
#include "rt/backends/virtual_clock_backend.hpp"

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <thread>

namespace earshot::rt {

namespace {

enum class Kind { Null, File, Jack, PortAudio };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Null:
      return "null";
    case Kind::File:
      return "file";
    case Kind::Jack:
      return "jack";
    case Kind::PortAudio:
      return "portaudio";
  }
  return "?";
}

bool is_named_input(const std::string& s) {
  return s == "tone" || s == "mic" || s == "jack";
}
bool is_named_output(const std::string& s) {
  return s == "auto" || s == "null" || s == "jack" || s == "portaudio";
}

bool default_output_device_exists() {
  try {
    find_portaudio_device("default", DeviceDirection::Output);
    return true;
  } catch (const BackendError&) {
    return false;
  }
}

Kind choose_backend(const MonitorOptions& o) {
  const bool file_in = !is_named_input(o.input);
  const bool file_out = !is_named_output(o.output);
  Kind kind;
  if (o.backend == "auto") {
    if (o.input == "jack" || o.output == "jack")
      kind = Kind::Jack;
    else if (o.input == "mic" || o.output == "portaudio")
      kind = Kind::PortAudio;
    else if (file_out || file_in)
      kind = Kind::File;
    else if (o.output == "auto" && default_output_device_exists())
      kind = Kind::PortAudio;
    else
      kind = Kind::Null;
  } else if (o.backend == "null")
    kind = Kind::Null;
  else if (o.backend == "file")
    kind = Kind::File;
  else if (o.backend == "jack")
    kind = Kind::Jack;
  else if (o.backend == "portaudio")
    kind = Kind::PortAudio;
  else
    throw BackendError("unknown --backend '" + o.backend + "' (null, file, jack, portaudio)");

  auto refuse = [&](const std::string& what) {
    throw BackendError(what + " cannot be used with the " + kind_name(kind) + " backend");
  };
  switch (kind) {
    case Kind::Jack:
      if (o.input == "mic") refuse("--input mic");
      if (o.output != "auto" && o.output != "jack") refuse("--output " + o.output);
      break;
    case Kind::PortAudio:
      if (o.input == "jack") refuse("--input jack");
      if (o.output != "auto" && o.output != "portaudio" && o.output != "null")
        refuse("--output " + o.output);
      break;
    case Kind::File:
      if (o.input == "mic" || o.input == "jack") refuse("--input " + o.input);
      if (o.output == "jack" || o.output == "portaudio") refuse("--output " + o.output);
      if (!file_in && o.seconds <= 0)
        throw BackendError("--input tone into a file needs --seconds (how long to write)");
      break;
    case Kind::Null:
      if (o.input != "tone") refuse("--input " + o.input);
      if (o.output != "auto" && o.output != "null") refuse("--output " + o.output);
      break;
  }
  return kind;
}

std::string format_db(float db) {
  char buf[16];
  if (std::isinf(db) && db < 0) return " -inf";
  std::snprintf(buf, sizeof buf, "%5.1f", static_cast<double>(db));
  return buf;
}

}  // namespace

int run_monitor(const MonitorOptions& o, std::FILE* out, const std::atomic<bool>* stop_requested) {
  if (o.period == 0 || o.period > 65536)
    throw BackendError("--period must be between 1 and 65536 frames");
  if (o.channels == 0 || o.channels > 64) throw BackendError("--channels must be between 1 and 64");
  if (o.rate < 0 || o.rate > 768000) throw BackendError("--rate must be between 1 and 768000 Hz");
  if (o.node_rate < 0 || o.node_rate > 768000)
    throw BackendError("--node-rate must be between 1 and 768000 Hz");
  if (o.seconds < 0) throw BackendError("--seconds must not be negative");
  if (!(o.report_interval > 0)) throw BackendError("--report-interval must be positive");
  const Kind kind = choose_backend(o);
  const bool tone = o.input == "tone";
  const bool file_in = !is_named_input(o.input);
  const bool file_out = !is_named_output(o.output);

  StreamConfig sc;
  sc.client_name = o.client_name;
  sc.period_frames = o.period;
  sc.sample_rate = o.rate > 0 ? o.rate : 48000.0;
  // A file played into a device backend comes through a generator, like the tone.
  const bool file_generator = file_in && (kind == Kind::Jack || kind == Kind::PortAudio);
  const bool generated = tone || file_generator;
  sc.input_channels = generated ? 0 : o.channels;
  sc.output_channels = o.channels;

  std::unique_ptr<AudioBackend> backend;
  VirtualClockBackend* virtual_clock = nullptr;
  JackBackend* jack = nullptr;
  std::string input_label =
      tone ? "tone " + std::to_string(static_cast<int>(o.tone_hz)) + " Hz" : o.input;
  switch (kind) {
    case Kind::Null: {
      auto b = std::make_unique<VirtualClockBackend>(VirtualClockBackend::Clock::RealTime);
      virtual_clock = b.get();
      backend = std::move(b);
      break;
    }
    case Kind::File: {
      FileBackendOptions fo;
      if (file_in) {
        // Channels and (unless --rate) rate come from the file.
        AudioFileReader probe(o.input);
        sc.input_channels = sc.output_channels = probe.channels();
        if (o.rate <= 0) sc.sample_rate = probe.file_rate();
        fo.input_path = o.input;
      }
      if (file_out) fo.output_path = o.output;
      fo.real_time = !o.fast;
      // An exact length, so the output file is exactly --seconds long.
      if (o.seconds > 0)
        fo.length_frames = static_cast<std::uint64_t>(std::llround(o.seconds * sc.sample_rate));
      backend = std::make_unique<FileBackend>(fo);
      break;
    }
    case Kind::Jack: {
      auto b = std::make_unique<JackBackend>();
      jack = b.get();
      backend = std::move(b);
      break;
    }
    case Kind::PortAudio: {
      PortAudioOptions po;
      po.input_device = o.input_device;
      po.output_device = o.output_device;
      if (o.output == "null") sc.output_channels = 0;
      if (o.rate <= 0) sc.sample_rate = 0;  // the device's default rate
      backend = std::make_unique<PortAudioBackend>(po);
      break;
    }
  }
  backend->open(sc);
  const double rate = backend->sample_rate();
  const std::uint32_t period = backend->period_frames();
  if (virtual_clock != nullptr && o.seconds > 0)
    virtual_clock->set_frame_limit(static_cast<std::uint64_t>(std::llround(o.seconds * rate)));

  const std::uint32_t channels = std::max(backend->output_channels(), backend->input_channels());
  PipelineConfig pc;
  pc.input_channels = generated ? channels : backend->input_channels();
  pc.output_channels = std::max<std::uint32_t>(1, backend->output_channels());
  // The pass-through node runs at --node-rate when given (converted both ways with libsoxr),
  // on blocks as long as one period.
  const bool resample = o.node_rate > 0 && o.node_rate != rate;
  const double node_rate = resample ? o.node_rate : rate;
  const auto node_block = std::max<std::uint32_t>(
      1, static_cast<std::uint32_t>(std::lround(period * node_rate / rate)));
  PassThroughNode pass_through(node_block);
  std::unique_ptr<ResamplingNode> resampling;
  if (resample)
    resampling = std::make_unique<ResamplingNode>(pass_through, rate, node_rate, pc.input_channels,
                                                  pc.output_channels, period);
  BlockNode& node = resample ? static_cast<BlockNode&>(*resampling) : pass_through;
  pc.period_frames = period;
  pc.sample_rate = rate;
  pc.headroom_frames = o.headroom < 0 ? period : static_cast<std::uint32_t>(o.headroom);
  pc.meter_interval_seconds = std::min(0.1, o.report_interval);
  RingPipeline pipeline(node, pc);
  ToneGenerator generator(o.tone_hz, rate, static_cast<float>(std::pow(10.0, o.tone_dbfs / 20.0)));
  if (tone) pipeline.set_input_generator(&generator);
  std::unique_ptr<FileInputGenerator> file_generator_input;
  if (file_generator) {
    file_generator_input = std::make_unique<FileInputGenerator>(o.input, rate, period);
    pipeline.set_input_generator(file_generator_input.get());
    file_generator_input->start();
  }

  const std::uint32_t latency = pipeline.latency_frames();
  backend->set_processing_latency(latency);
  pipeline.start();
  backend->start(pipeline);
  if (jack != nullptr && o.jack_autoconnect) jack->connect_physical_ports();

  const std::string output_label = file_out             ? o.output
                                   : kind == Kind::Null ? "null (virtual clock)"
                                                        : kind_name(kind);
  std::fprintf(out, "earshot monitor: %s -> %s, backend %s, %.0f Hz, period %u, %u channel%s\n",
               input_label.c_str(), output_label.c_str(), kind_name(kind), rate, period,
               pc.output_channels, pc.output_channels == 1 ? "" : "s");
  if (jack != nullptr) {
    std::fprintf(out, "jack ports: %s:%s_1..%u, %s:%s_1..%u\n", jack->client_name().c_str(),
                 sc.input_port_prefix.c_str(), jack->input_channels(), jack->client_name().c_str(),
                 sc.output_port_prefix.c_str(), jack->output_channels());
  }
  const BackendLatency bl = backend->latency();
  if (resample)
    std::fprintf(out, "node: pass-through at %.0f Hz (resampled both ways)\n", node_rate);
  std::fprintf(out, "latency: pipeline %u frames (%.2f ms), backend input %u, output %u\n", latency,
               1000.0 * latency / rate, bl.input_frames, bl.output_frames);
  std::fflush(out);

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto next_report = t0;
  const auto interval = std::chrono::duration<double>(o.report_interval);
  auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - t0).count(); };
  std::optional<double> input_done_at;
  auto stop_now = [&] {
    if (stop_requested != nullptr && stop_requested->load()) return true;
    if (backend->finished()) return true;
    if (file_generator_input && file_generator_input->finished()) {
      // Let the last input frames come out of the pipeline before stopping.
      if (!input_done_at) input_done_at = elapsed();
      if (elapsed() >= *input_done_at + 1.5 * latency / rate + 0.05) return true;
    }
    // Device clocks: wall time. Own clocks (null, file) stop themselves at the exact length.
    return (kind == Kind::Jack || kind == Kind::PortAudio) && o.seconds > 0 &&
           elapsed() >= o.seconds;
  };
  while (!stop_now()) {
    next_report += std::chrono::duration_cast<clock::duration>(interval);
    while (clock::now() < next_report && !stop_now())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (stop_now()) break;
    const PipelineStats s = pipeline.stats();
    std::string line;
    char head[32];
    std::snprintf(head, sizeof head, "%6.1fs ", s.frames_in / rate);
    line += head;
    const auto levels = pipeline.levels();
    for (std::size_t c = 0; c < levels.size(); ++c) {
      line += " ch" + std::to_string(c + 1) + " peak " + format_db(levels[c].peak_dbfs) + " rms " +
              format_db(levels[c].rms_dbfs) + " dBFS |";
    }
    char tail[128];
    std::snprintf(tail, sizeof tail, " xruns %llu underflows %llu overflows %llu",
                  static_cast<unsigned long long>(backend->xruns()),
                  static_cast<unsigned long long>(s.underflows),
                  static_cast<unsigned long long>(s.overflows));
    line += tail;
    std::fprintf(out, "%s\n", line.c_str());
    std::fflush(out);
  }
  backend->stop();
  pipeline.stop();
  if (file_generator_input) {
    file_generator_input->stop();
    if (file_generator_input->failed()) throw BackendError(file_generator_input->error());
  }
  if (backend->failed()) throw BackendError(backend->finish_message());
  const PipelineStats s = pipeline.stats();
  std::fprintf(out,
               "done: %.2f s of audio, xruns %llu, underflows %llu (%llu frames), overflows %llu "
               "(%llu frames)%s%s\n",
               s.frames_in / rate, static_cast<unsigned long long>(backend->xruns()),
               static_cast<unsigned long long>(s.underflows),
               static_cast<unsigned long long>(s.underflow_frames),
               static_cast<unsigned long long>(s.overflows),
               static_cast<unsigned long long>(s.overflow_frames), file_out ? ", wrote " : "",
               file_out ? o.output.c_str() : "");
  return 0;
}

}  // namespace earshot::rt
