// `earshot codec`: EnCodec compression (encode audio to codes, decode codes to audio) and
// streaming playback of codes as they arrive (a text-to-speech process piping codes in).
#include "apps/command.hpp"
#include "dsp/audio_file.hpp"
#include "models/encodec/chunked_decode.hpp"
#include "models/encodec/code_stream.hpp"
#include "models/encodec/codes_file.hpp"
#include "models/encodec/encodec_model.hpp"
#include "models/encodec/streaming_decoder.hpp"
#include "models/encodec/streaming_encoder.hpp"
#include "nodes/codec/codec_player.hpp"
#include "rt/backends/jack_backend.hpp"
#include "rt/backends/portaudio_backend.hpp"
#include "rt/backends/virtual_clock_backend.hpp"
#include "rt/memory_budget.hpp"

#include <fcntl.h>
#include <sndfile.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <thread>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace earshot::app {
namespace {

namespace ec = earshot::encodec;

struct CodecOptions {
  std::string model;
  std::string input;
  std::string output;
  double bandwidth = 6.0;
  std::size_t budget_mb = 1024;
  bool f16_weights = false;  // decode, play: the decoder's weight-streaming layers in half
  // play
  std::string codes = "-";
  std::string framing = "i16";
  int codebooks = 0;
  double buffer_ms = 80;
  std::int64_t queue_frames = 64;
  bool jack = false;
  bool mono = false;
  bool connect = false;
  std::string client_name = "earshot-codec";
  std::string device = "default";
  int channels = 2;
  double rate = 0;
  std::uint32_t period = 256;
};

// Causal mono model (24 kHz): the streaming encoder takes the audio block by block, so its
// activations do not grow with the input; its codes equal EncodecModel::encode's (see
// streaming_encoder.hpp). A file already mono at the model's rate is also read block by block;
// any other is converted in memory first (libsoxr), as the offline path does.
ec::EncodedAudio encode_streaming(const ec::EncodecModel& model, rt::MemoryBudget& budget, int n_q,
                                  const std::string& path, std::size_t& non_finite) {
  constexpr std::int64_t kBlock = 4800;  // 200 ms at 24 kHz
  const auto& config = model.config();
  ec::StreamingEncoder encoder(model, budget, n_q, kBlock);
  std::vector<std::int32_t> out(static_cast<std::size_t>(encoder.max_frames_out() * n_q));
  std::vector<std::int32_t> frame_major;
  auto keep = [&](std::int64_t frames) {
    frame_major.insert(frame_major.end(), out.begin(), out.begin() + frames * n_q);
  };
  std::int64_t samples = 0;
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file != nullptr && info.channels == 1 && info.samplerate == config.sampling_rate) {
    std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> closer(file, &sf_close);
    std::vector<float> block(static_cast<std::size_t>(kBlock));
    for (;;) {
      const sf_count_t n = sf_readf_float(file, block.data(), kBlock);
      if (n <= 0) break;
      for (sf_count_t i = 0; i < n; ++i) {
        if (!std::isfinite(block[i])) {
          block[i] = 0.0f;
          ++non_finite;
        }
      }
      keep(encoder.push(block.data(), n, out.data()));
      samples += n;
    }
  } else {
    if (file != nullptr) sf_close(file);
    const auto audio = dsp::read_audio_as(path, config.sampling_rate, 1);
    non_finite = audio.non_finite_replaced;
    samples = static_cast<std::int64_t>(audio.frames());
    for (std::int64_t s0 = 0; s0 < samples; s0 += kBlock) {
      keep(encoder.push(audio.samples.data() + s0, std::min(kBlock, samples - s0), out.data()));
    }
  }
  if (samples == 0) throw std::invalid_argument(path + ": no audio samples");
  keep(encoder.finish(out.data()));
  ec::EncodedAudio encoded;
  encoded.n_q = n_q;
  encoded.audio_length = samples;
  ec::CodeChunk chunk;
  chunk.frames = static_cast<std::int64_t>(frame_major.size()) / n_q;
  chunk.codes.resize(frame_major.size());
  for (std::int64_t f = 0; f < chunk.frames; ++f) {
    for (int q = 0; q < n_q; ++q) chunk.codes[q * chunk.frames + f] = frame_major[f * n_q + q];
  }
  encoded.chunks.push_back(std::move(chunk));
  return encoded;
}

int run_encode(const CodecOptions& o) {
  rt::MemoryBudget budget(o.budget_mb << 20);
  const auto model = ec::EncodecModel::load(o.model, budget);
  const auto& config = model.config();
  const int n_q = config.quantizers_for_bandwidth(o.bandwidth);
  ec::codes_format_for(o.output);  // refuse a bad extension before the work
  ec::EncodedAudio encoded;
  std::size_t non_finite = 0;
  if (config.use_causal_conv && config.audio_channels == 1 && !config.normalize) {
    encoded = encode_streaming(model, budget, n_q, o.input, non_finite);
  } else {
    // Converted to the model's rate and channel count (mono is duplicated for the stereo model).
    const auto audio = dsp::read_audio_as(o.input, config.sampling_rate,
                                          static_cast<std::size_t>(config.audio_channels));
    non_finite = audio.non_finite_replaced;
    if (audio.frames() == 0) throw std::invalid_argument(o.input + ": no audio samples");
    encoded = model.encode(audio.samples.data(), static_cast<std::int64_t>(audio.frames()), n_q);
  }
  if (non_finite != 0) {
    std::fprintf(stderr, "earshot codec: warning: %zu NaN/Inf samples in %s were read as 0\n",
                 non_finite, o.input.c_str());
  }
  ec::save_codes(o.output, encoded, config);
  std::int64_t frames = 0;
  for (const auto& c : encoded.chunks) frames += c.frames;
  std::fprintf(stderr,
               "earshot codec: %lld samples -> %zu chunk(s), %lld frames x %d codebooks "
               "(%.1f kbps) -> %s\n",
               static_cast<long long>(encoded.audio_length), encoded.chunks.size(),
               static_cast<long long>(frames), n_q, o.bandwidth, o.output.c_str());
  return 0;
}

// Incremental WAV writer: play writes audio as it is decoded, so memory stays flat however
// long the stream runs.
class WavStreamWriter {
 public:
  WavStreamWriter(const std::string& path, int channels, int rate) : path_(path) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = channels;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    file_ = sf_open(path.c_str(), SFM_WRITE, &info);
    if (file_ == nullptr)
      throw std::runtime_error(path + ": cannot write WAV: " + sf_strerror(nullptr));
  }
  ~WavStreamWriter() {
    if (file_ != nullptr) sf_close(file_);
  }
  void write(const float* interleaved, std::int64_t frames) {
    if (frames > 0 && sf_writef_float(file_, interleaved, frames) != frames) {
      throw std::runtime_error(path_ + ": write failed: " + sf_strerror(file_));
    }
  }

 private:
  std::string path_;
  SNDFILE* file_ = nullptr;
};

// Causal (24 kHz) codes are decoded through the streaming decoder block by block, so memory
// stays flat however long the file is; the output equals the offline decode up to float
// rounding (see streaming_decoder.hpp). Written to OUT.tmp and renamed when complete.
void decode_streaming(const ec::EncodecModel& model, rt::MemoryBudget& budget,
                      const ec::EncodedAudio& encoded, const std::string& path) {
  constexpr std::int64_t kBlock = 64;
  const auto& chunk = encoded.chunks.at(0);
  const int n_q = encoded.n_q;
  ec::StreamingDecoder decoder(model, budget, n_q, kBlock);
  std::vector<float> audio(static_cast<std::size_t>(decoder.max_output_samples()));
  std::vector<std::int32_t> block(static_cast<std::size_t>(kBlock * n_q));
  const std::int64_t keep =
      encoded.audio_length > 0 ? encoded.audio_length : chunk.frames * model.config().hop_length();
  std::int64_t written = 0;
  const std::string tmp = path + ".tmp";
  {
    WavStreamWriter writer(tmp, 1, model.config().sampling_rate);
    auto emit = [&](std::int64_t m) {
      const std::int64_t n = std::min(m, keep - written);
      if (n > 0) writer.write(audio.data(), n);
      written += std::max<std::int64_t>(n, 0);
    };
    for (std::int64_t f0 = 0; f0 < chunk.frames; f0 += kBlock) {
      const std::int64_t n = std::min(kBlock, chunk.frames - f0);
      for (std::int64_t f = 0; f < n; ++f) {
        for (int q = 0; q < n_q; ++q) block[f * n_q + q] = chunk.codes[q * chunk.frames + f0 + f];
      }
      emit(decoder.push(block.data(), n, audio.data()));
    }
    emit(decoder.finish(audio.data()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw std::runtime_error(path + ": cannot move into place: " + ec.message());
  }
}

// Chunked (48 kHz) codes: decoded one chunk at a time, each overlap-added with the next and
// written as soon as final (chunked_decode.hpp), so memory stays flat however long the file is;
// bitwise what EncodecModel::decode returns. Written to OUT.tmp and renamed when complete.
std::int64_t decode_chunked_to_wav(const ec::EncodecModel& model, const ec::EncodedAudio& encoded,
                                   const std::string& path) {
  const auto& config = model.config();
  for (const auto& chunk : encoded.chunks) {
    model.quantizer().validate(chunk.codes.data(), encoded.n_q, chunk.frames);
  }
  const std::string tmp = path + ".tmp";
  std::int64_t written = 0;
  try {
    WavStreamWriter writer(tmp, config.audio_channels, config.sampling_rate);
    ec::decode_chunks(model, encoded, [&](const float* audio, std::int64_t samples) {
      writer.write(audio, samples);
      written += samples;
    });
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw std::runtime_error(path + ": cannot move into place: " + ec.message());
  }
  return written;
}

int run_decode(const CodecOptions& o) {
  rt::MemoryBudget budget(o.budget_mb << 20);
  auto model = ec::EncodecModel::load(o.model, budget);
  if (o.f16_weights) model.store_decoder_weights_f16(budget);
  const auto& config = model.config();
  const auto encoded = ec::load_codes(o.input, config);
  if (config.use_causal_conv && config.audio_channels == 1 && encoded.chunks.size() == 1) {
    decode_streaming(model, budget, encoded, o.output);
    std::fprintf(stderr, "earshot codec: %lld frames decoded (streaming) at %d Hz -> %s\n",
                 static_cast<long long>(encoded.chunks[0].frames), config.sampling_rate,
                 o.output.c_str());
    return 0;
  }
  const std::int64_t samples = decode_chunked_to_wav(model, encoded, o.output);
  std::fprintf(stderr,
               "earshot codec: %lld samples x %d channel(s) at %d Hz (%zu chunk(s)) -> %s\n",
               static_cast<long long>(samples), config.audio_channels, config.sampling_rate,
               encoded.chunks.size(), o.output.c_str());
  return 0;
}

std::atomic<bool> g_play_interrupted{false};
std::atomic<codec::CodecPlayer*> g_player{nullptr};
extern "C" void interrupt_play(int) {
  g_play_interrupted.store(true);
  if (codec::CodecPlayer* player = g_player.load()) player->request_stop();
}

// Makes the player reachable from the Ctrl-C handler while it exists.
struct InterruptTarget {
  explicit InterruptTarget(codec::CodecPlayer& player) {
    g_player.store(&player);
    if (g_play_interrupted.load()) player.request_stop();
  }
  ~InterruptTarget() { g_player.store(nullptr); }
};

// The code input as a file descriptor: the player's reader polls it, so Ctrl-C ends a run even
// while the producer keeps the pipe open and silent.
// Thrown when Ctrl-C arrives while the code stream is still being opened.
struct InterruptedBeforeStream {};

struct CodeInput {
  int fd = -1;
  bool owned = false;
  std::string label;
  explicit CodeInput(const std::string& path) {
    if (path == "-") {
      fd = 0;
      label = "stdin";
      return;
    }
    // A FIFO's open() waits for its writer; Ctrl-C there (our handler does not restart system
    // calls) is the user giving up on the stream, not an error.
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == EINTR && g_play_interrupted.load()) throw InterruptedBeforeStream{};
    if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    owned = true;
    label = path;
  }
  ~CodeInput() {
    if (owned) ::close(fd);
  }
  CodeInput(const CodeInput&) = delete;
  CodeInput& operator=(const CodeInput&) = delete;
};

void print_summary(const codec::CodecPlayer& player, const std::string& destination,
                   std::uint64_t xruns) {
  const auto s = player.stats();
  const double rate = player.output_rate();
  std::fprintf(stderr,
               "earshot codec play: %lld frames, %.2f s of audio -> %s; start delay %.1f ms; "
               "late: %llu events, %.3f s silence (%llu samples); underruns: %llu\n",
               static_cast<long long>(s.frames_delivered),
               static_cast<double>(s.audio_frames_played) / rate, destination.c_str(),
               s.start_delay_frames < 0 ? 0.0 : 1000.0 * s.start_delay_frames / rate,
               static_cast<unsigned long long>(s.late_events),
               static_cast<double>(s.late_silence_frames) / rate,
               static_cast<unsigned long long>(s.late_silence_frames),
               static_cast<unsigned long long>(xruns));
}

// Bad input ends the stream where it went bad; the audio before it has been played, then the
// error is reported (exit 1).
void throw_if_failed(const codec::CodecPlayer& player) {
  if (player.failed()) throw std::runtime_error(player.error());
}

// WAV: the virtual clock runs as fast as codes arrive (waiting for the producer between
// periods), so the file is exactly the streaming decode, never padded with silence.
int play_to_wav(const ec::EncodecModel& model, rt::MemoryBudget& budget,
                codec::CodecPlayerOptions options, const CodecOptions& o,
                ec::FrameFraming framing) {
  const int channels = model.config().audio_channels;
  options.output_rate = o.rate > 0 ? o.rate : model.config().sampling_rate;
  options.output_channels = static_cast<std::uint32_t>(channels);
  options.max_period_frames = o.period;
  rt::VirtualClockBackend backend(rt::VirtualClockBackend::Clock::Manual);
  rt::StreamConfig config;
  config.sample_rate = options.output_rate;
  config.period_frames = o.period;
  config.input_channels = 0;
  config.output_channels = options.output_channels;
  backend.open(config);
  std::vector<float> period(static_cast<std::size_t>(o.period) * channels);
  backend.set_output(
      [&period](const float* const* out, std::uint32_t chans, std::uint32_t frames, std::uint64_t) {
        for (std::uint32_t i = 0; i < frames; ++i) {
          for (std::uint32_t c = 0; c < chans; ++c) period[i * chans + c] = out[c][i];
        }
      });
  codec::CodecPlayer player(model, budget, options);
  InterruptTarget interrupt_target(player);
  CodeInput input(o.codes);
  WavStreamWriter writer(o.output, channels, static_cast<int>(std::lround(options.output_rate)));
  player.start_reading(input.fd, framing, input.label);
  backend.start(player);
  std::uint64_t written = 0;
  while (!player.done() && !player.decoder_failed() && !g_play_interrupted.load()) {
    player.wait_until_caught_up();
    backend.run_periods(1);
    const std::uint64_t end = player.done() ? player.end_frame() : written + o.period;
    const std::uint64_t n = std::min<std::uint64_t>(o.period, end - written);
    writer.write(period.data(), static_cast<std::int64_t>(n));
    written += n;
  }
  backend.stop();
  player.stop();
  throw_if_failed(player);
  print_summary(player, o.output, backend.xruns());
  return g_play_interrupted.load() ? 130 : 0;
}

// A device (PortAudio) or JACK: the backend owns a real-time clock; late codes are silence.
int play_live(const ec::EncodecModel& model, rt::MemoryBudget& budget,
              codec::CodecPlayerOptions options, const CodecOptions& o, ec::FrameFraming framing) {
  std::unique_ptr<rt::AudioBackend> backend;
  rt::StreamConfig config;
  config.input_channels = 0;
  config.period_frames = o.period;
  config.client_name = o.client_name;
  config.output_port_prefix = "out";
  std::string destination;
  if (o.jack) {
    backend = std::make_unique<rt::JackBackend>();
    config.output_channels = o.mono ? 1 : 2;
    destination = "JACK";
  } else {
    rt::PortAudioOptions pa;
    pa.output_device = o.device;
    const auto device = rt::find_portaudio_device(o.device, rt::DeviceDirection::Output);
    config.output_channels =
        static_cast<std::uint32_t>(std::clamp(o.channels, 1, device.max_output_channels));
    config.sample_rate = o.rate > 0 ? o.rate : device.default_sample_rate;
    backend = std::make_unique<rt::PortAudioBackend>(pa);
    destination = "PortAudio device '" + device.name + "'";
  }
  backend->open(config);
  options.output_rate = backend->sample_rate();
  options.output_channels = backend->output_channels();
  // JACK may change its period while we run; the player only sizes its ring by this.
  options.max_period_frames = std::max<std::uint32_t>(backend->period_frames() * 2, 4096);
  codec::CodecPlayer player(model, budget, options);
  InterruptTarget interrupt_target(player);
  CodeInput input(o.codes);
  player.start_reading(input.fd, framing, input.label);
  backend->start(player);
  if (auto* jack = dynamic_cast<rt::JackBackend*>(backend.get())) {
    destination = "JACK client '" + jack->client_name() + "'";
    if (o.connect) jack->connect_physical_ports();
  }
  std::fprintf(stderr, "earshot codec play: %s at %.0f Hz, %u channel(s), jitter buffer %.0f ms\n",
               destination.c_str(), backend->sample_rate(), backend->output_channels(),
               o.buffer_ms);
  while (!player.done() && !player.decoder_failed() && !g_play_interrupted.load()) {
    if (backend->finished()) {
      player.stop();
      throw std::runtime_error(backend->finish_message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (player.done()) {
    // The last samples were handed over; let the device's own buffer play them out.
    const double tail_s = (backend->latency().output_frames + 2.0 * backend->period_frames()) /
                          backend->sample_rate();
    std::this_thread::sleep_for(std::chrono::duration<double>(tail_s + 0.02));
  }
  backend->stop();
  player.stop();
  throw_if_failed(player);
  print_summary(player, destination, backend->xruns());
  return g_play_interrupted.load() ? 130 : 0;
}

int run_play(const CodecOptions& o) {
  struct sigaction action {};
  action.sa_handler = &interrupt_play;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  rt::MemoryBudget budget(o.budget_mb << 20);
  auto model = ec::EncodecModel::load(o.model, budget);
  if (o.f16_weights) model.store_decoder_weights_f16(budget);
  const auto& config = model.config();
  if (!config.use_causal_conv) {
    throw std::invalid_argument(o.model +
                                ": codec play needs a causal model (encodec_24khz); this one is "
                                "not causal, so it cannot stream (decode it with `codec decode`)");
  }
  const int n_q = o.codebooks > 0 ? o.codebooks : config.quantizers_for_bandwidth(o.bandwidth);
  (void)config.bandwidth_for_quantizers(n_q);  // a codebook count the model was trained with
  const auto framing = ec::parse_framing(o.framing);
  if (!o.output.empty() && o.jack)
    throw std::invalid_argument("choose one of --output FILE.wav and --jack");
  codec::CodecPlayerOptions options;
  options.n_q = n_q;
  options.buffer_ms = o.buffer_ms;
  options.queue_frames = o.queue_frames;
  try {
    if (!o.output.empty()) return play_to_wav(model, budget, options, o, framing);
    return play_live(model, budget, options, o, framing);
  } catch (const InterruptedBeforeStream&) {
    std::fprintf(stderr, "earshot codec play: interrupted before %s had a writer; nothing played\n",
                 o.codes.c_str());
    return 130;
  }
}

const RegisterCommand kRegisterCodec{Command{
    "codec",
    "EnCodec neural codec (facebook/encodec_24khz, encodec_48khz): encode audio to codes "
    "(.npy/.npz/.ecdc), decode codes to WAV, or play a stream of codes as they arrive",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<CodecOptions>();
      sub.require_subcommand(1);
      auto* enc = sub.add_subcommand("encode",
                                     "audio file -> codes (.npy int32 [n_q, frames]; "
                                     ".npz codes/scales for 48 kHz; .ecdc)");
      auto* dec = sub.add_subcommand("decode", "codes (.npy/.npz/.ecdc) -> float32 WAV");
      auto* play = sub.add_subcommand(
          "play",
          "decode a stream of code frames as it arrives (streaming, causal 24 kHz model) and "
          "play it: PortAudio (default), JACK (--jack) or a WAV file (--output).\n"
          "Framing (--format, no header): i16 = each frame is n_q little-endian int16 codes, "
          "codebook 0 first, frames back to back (n_q*2 bytes); i32 = the same with int32; "
          "jsonl = one JSON array per line, [c0,...,c(n_q-1)] for a frame or [[...],[...]] for "
          "several. n_q comes from --bandwidth (1.5/3/6/12/24 kbps = 2/4/8/16/32 codebooks) or "
          "--codebooks.\n"
          "Live output: codes that arrive late play as silence (counted), never as a glitch or a "
          "growing delay; after a gap, audio resumes once --buffer-ms of it has arrived. At the "
          "end of the stream everything decoded is played, then a summary (frames, seconds, "
          "start delay, late events and silence, underruns) goes to stderr and the exit status "
          "is 0. A WAV file is written as fast as codes arrive (no silence inserted). A code out "
          "of range or a partial frame at the end stops the stream there: what came before is "
          "played, then the error is reported (exit 1).");
      for (auto* s : {enc, dec, play}) {
        s->add_option("--model", o->model, "Hugging Face encodec_24khz/encodec_48khz directory")
            ->required()
            ->check(CLI::ExistingDirectory);
        s->add_option("--budget-mb", o->budget_mb, "memory budget for weights and state (MiB)")
            ->capture_default_str();
      }
      enc->add_option("input", o->input, "audio file (resampled and channel-converted)")
          ->required()
          ->check(CLI::ExistingFile);
      enc->add_option("-o,--output", o->output, "OUT.npy | OUT.npz | OUT.ecdc")->required();
      enc->add_option("--bandwidth", o->bandwidth,
                      "kbps: 1.5/3/6/12/24 (24 kHz), 3/6/12/24 (48 kHz)")
          ->capture_default_str();
      dec->add_option("input", o->input, "IN.npy | IN.npz | IN.ecdc")
          ->required()
          ->check(CLI::ExistingFile);
      dec->add_option("-o,--output", o->output, "OUT.wav")->required();
      play->add_option("--codes", o->codes, "code stream: a file or FIFO, or - for stdin")
          ->capture_default_str();
      play->add_option("--output", o->output, "write FILE.wav instead of playing");
      play->add_flag("--jack", o->jack, "play through JACK (a client with out_1/out_2)");
      play->add_flag("--mono", o->mono, "JACK: one output port instead of a pair");
      play->add_flag("--connect", o->connect, "JACK: connect our ports to system playback");
      play->add_option("--client-name", o->client_name, "JACK client name")->capture_default_str();
      play->add_option("--device", o->device,
                       "PortAudio output: default, an index or part of a name (`earshot devices`)")
          ->capture_default_str();
      play->add_option("--channels", o->channels,
                       "PortAudio output channels (the mono speech goes to each)")
          ->check(CLI::Range(1, 64))
          ->capture_default_str();
      play->add_option("--rate", o->rate,
                       "output rate in Hz (0: the device's default; 24000 for WAV; JACK uses the "
                       "server's); audio is resampled with libsoxr when it differs from 24000")
          ->check(CLI::Range(0.0, 768000.0))
          ->capture_default_str();
      play->add_option("--period", o->period, "frames per callback (PortAudio, WAV)")
          ->check(CLI::Range(16u, 16384u))
          ->capture_default_str();
      for (auto* s : {dec, play}) {
        s->add_flag("--f16-weights", o->f16_weights,
                    "keep the decoder's weight-heavy layers (first conv, LSTM, first transposed "
                    "conv) in half precision, float compute: a streaming push reads 16 MB instead "
                    "of 30 MB, so one-frame playback is faster on a busy machine; not bit-exact "
                    "(about -70 dB error, see README)");
      }
      play->add_option("--buffer-ms", o->buffer_ms,
                       "jitter buffer: audio gathered before starting and after a gap")
          ->check(CLI::Range(0.0, 10000.0))
          ->capture_default_str();
      play->add_option("--queue-frames", o->queue_frames,
                       "code frames read ahead of the decoder (a faster producer waits)")
          ->check(CLI::Range(static_cast<std::int64_t>(1), static_cast<std::int64_t>(1) << 20))
          ->capture_default_str();
      play->add_option("--format", o->framing, "i16 | i32 | jsonl")->capture_default_str();
      play->add_option("--bandwidth", o->bandwidth, "kbps; sets the codebooks per frame")
          ->capture_default_str();
      play->add_option("--codebooks", o->codebooks, "codebooks per frame (overrides --bandwidth)");
      return [o, enc, dec, play]() -> int {
        if (enc->parsed()) return run_encode(*o);
        if (dec->parsed()) return run_decode(*o);
        if (play->parsed()) return run_play(*o);
        return 1;
      };
    }}};

}  // namespace
}  // namespace earshot::app
