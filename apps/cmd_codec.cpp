// `earshot codec`: EnCodec compression (encode audio to codes, decode codes to audio) and
// streaming playback of codes as they arrive (a text-to-speech process piping codes in).
#include "apps/command.hpp"
#include "dsp/audio_file.hpp"
#include "models/encodec/code_stream.hpp"
#include "models/encodec/codes_file.hpp"
#include "models/encodec/encodec_model.hpp"
#include "models/encodec/streaming_decoder.hpp"
#include "rt/memory_budget.hpp"

#include <sndfile.h>

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
  // play
  std::string codes = "-";
  std::string framing = "i16";
  int codebooks = 0;
};

int run_encode(const CodecOptions& o) {
  rt::MemoryBudget budget(o.budget_mb << 20);
  const auto model = ec::EncodecModel::load(o.model, budget);
  const auto& config = model.config();
  const int n_q = config.quantizers_for_bandwidth(o.bandwidth);
  ec::codes_format_for(o.output);  // refuse a bad extension before the work
  // Converted to the model's rate and channel count (mono is duplicated for the stereo model).
  const auto audio = dsp::read_audio_as(o.input, config.sampling_rate,
                                        static_cast<std::size_t>(config.audio_channels));
  if (audio.non_finite_replaced != 0) {
    std::fprintf(stderr, "earshot codec: warning: %zu NaN/Inf samples in %s were read as 0\n",
                 audio.non_finite_replaced, o.input.c_str());
  }
  if (audio.frames() == 0) throw std::invalid_argument(o.input + ": no audio samples");
  const auto encoded =
      model.encode(audio.samples.data(), static_cast<std::int64_t>(audio.frames()), n_q);
  ec::save_codes(o.output, encoded, config);
  std::int64_t frames = 0;
  for (const auto& c : encoded.chunks) frames += c.frames;
  std::fprintf(stderr,
               "earshot codec: %zu samples -> %zu chunk(s), %lld frames x %d codebooks "
               "(%.1f kbps) -> %s\n",
               audio.frames(), encoded.chunks.size(), static_cast<long long>(frames), n_q,
               o.bandwidth, o.output.c_str());
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

int run_decode(const CodecOptions& o) {
  rt::MemoryBudget budget(o.budget_mb << 20);
  const auto model = ec::EncodecModel::load(o.model, budget);
  const auto& config = model.config();
  const auto encoded = ec::load_codes(o.input, config);
  if (config.use_causal_conv && config.audio_channels == 1 && encoded.chunks.size() == 1) {
    decode_streaming(model, budget, encoded, o.output);
    std::fprintf(stderr, "earshot codec: %lld frames decoded (streaming) at %d Hz -> %s\n",
                 static_cast<long long>(encoded.chunks[0].frames), config.sampling_rate,
                 o.output.c_str());
    return 0;
  }
  const auto audio = model.decode(encoded);
  dsp::write_wav_atomic(o.output, audio, static_cast<std::size_t>(config.audio_channels),
                        config.sampling_rate, dsp::WavEncoding::Float32);
  std::fprintf(stderr, "earshot codec: %zu samples x %d channel(s) at %d Hz -> %s\n",
               audio.size() / config.audio_channels, config.audio_channels, config.sampling_rate,
               o.output.c_str());
  return 0;
}

int run_play(const CodecOptions& o) {
  rt::MemoryBudget budget(o.budget_mb << 20);
  const auto model = ec::EncodecModel::load(o.model, budget);
  const auto& config = model.config();
  const int n_q = o.codebooks > 0 ? o.codebooks : config.quantizers_for_bandwidth(o.bandwidth);
  (void)config.bandwidth_for_quantizers(n_q);  // a codebook count the model was trained with
  const auto framing = ec::parse_framing(o.framing);
  if (o.output.empty() || o.output == "portaudio" || o.output == "jack") {
    throw std::invalid_argument(
        "--output must be a .wav file for now (live device output "
        "through rt/backends is not wired to codec play yet)");
  }
  constexpr std::int64_t kMaxPush = 16;
  ec::StreamingDecoder decoder(model, budget, n_q, kMaxPush);
  std::vector<float> audio(
      static_cast<std::size_t>(decoder.max_output_samples() * config.audio_channels));
  std::FILE* in = o.codes == "-" ? stdin : std::fopen(o.codes.c_str(), "rb");
  if (in == nullptr) throw std::runtime_error(o.codes + ": cannot open");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(in == stdin ? nullptr : in, &std::fclose);
  ec::CodeFrameReader reader(in, framing, n_q, o.codes == "-" ? "stdin" : o.codes);
  WavStreamWriter writer(o.output, config.audio_channels, config.sampling_rate);

  std::vector<std::int32_t> frames;
  frames.reserve(static_cast<std::size_t>(kMaxPush * n_q));
  double worst_ms = 0;
  for (;;) {
    frames.clear();
    const auto n = reader.read(kMaxPush, frames);
    if (n == 0) break;
    const auto t0 = std::chrono::steady_clock::now();
    const auto m = decoder.push(frames.data(), n, audio.data());
    worst_ms = std::max(
        worst_ms,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    writer.write(audio.data(), m);
  }
  writer.write(audio.data(), decoder.finish(audio.data()));
  std::fprintf(stderr,
               "earshot codec: played %lld frames -> %lld samples into %s (start delay "
               "%lld frames, slowest push %.2f ms)\n",
               static_cast<long long>(decoder.frames_in()),
               static_cast<long long>(decoder.samples_out()), o.output.c_str(),
               static_cast<long long>(decoder.start_delay_frames()), worst_ms);
  return 0;
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
          "decode a stream of code frames as it arrives (streaming, causal 24 kHz "
          "model) and write the audio. Framing --format i16|i32: binary frames of n_q "
          "little-endian codes; jsonl: one JSON array of n_q codes (or of frames) per line");
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
      play->add_option("--codes", o->codes, "code stream: a file, or - for stdin")
          ->capture_default_str();
      play->add_option("--output", o->output, "FILE.wav")->required();
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
