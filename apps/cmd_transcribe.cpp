// `earshot transcribe`: offline transcription of audio files with Whisper, in 30-second windows
// with openai/whisper's transcribe() logic (seek by timestamps, temperature fallback,
// previous-text conditioning). Output as plain text, JSON (segments with token ids), SRT or VTT.
#include "apps/command.hpp"
#include "models/whisper/tokenizer.hpp"
#include "models/whisper/whisper_mel_stream.hpp"
#include "models/whisper/whisper_transcribe.hpp"
#include "nodes/caption/caption_writer.hpp"
#include "rt/default_budget.hpp"
#include "rt/memory_budget.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace earshot::app {
namespace {

namespace ww = earshot::models::whisper;

struct TranscribeCli {
  std::string model;
  std::vector<std::string> files;
  std::string format = "text";
  std::string language;
  std::string task = "transcribe";
  float temperature = 0.0f;
  bool no_fallback = false;
  int max_tokens = 0;
  bool no_timestamps = false;
  bool timestamps = false;
  int beam_size = 0;
  int best_of = 5;
  std::string initial_prompt;
  bool no_condition = false;
  std::string tokenizer;
  std::size_t budget_mb = 0;
  int threads = 0;
};

// SRT/VTT cue times, as the live captions write them.
using nodes::caption::caption_clock;

std::string strip(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

// Writes segments as they come (text, srt, vtt) or collects them for one JSON document, so
// a long recording's output does not wait for its end.
class TranscriptPrinter {
 public:
  TranscriptPrinter(const TranscribeCli& o, std::string file, bool many_files)
      : o_(o), file_(std::move(file)), many_files_(many_files) {
    if (o_.format == "vtt") std::printf("WEBVTT\n\n");
    if (o_.format == "json") segments_ = nlohmann::json::array();
  }

  void add(const ww::TranscriptSegment& s) {
    if (o_.format == "json") {
      segments_.push_back({{"start", s.start},
                           {"end", s.end},
                           {"text", s.text},
                           {"tokens", s.tokens},
                           {"seek", s.seek},
                           {"temperature", s.temperature},
                           {"avg_logprob", s.avg_logprob},
                           {"compression_ratio", s.compression_ratio},
                           {"no_speech_prob", s.no_speech_prob}});
      return;
    }
    const std::string text = strip(s.text);
    if (text.empty()) return;
    if (o_.format == "srt") {
      std::printf("%d\n%s --> %s\n%s\n\n", index_++, caption_clock(s.start, ',').c_str(),
                  caption_clock(s.end, ',').c_str(), text.c_str());
    } else if (o_.format == "vtt") {
      std::printf("%s --> %s\n%s\n\n", caption_clock(s.start, '.').c_str(),
                  caption_clock(s.end, '.').c_str(), text.c_str());
    } else if (o_.timestamps) {
      std::printf("[%s --> %s] %s\n", caption_clock(s.start, '.').c_str(),
                  caption_clock(s.end, '.').c_str(), text.c_str());
    } else {
      std::printf("%s\n", text.c_str());
    }
    std::fflush(stdout);
  }

  void finish(const std::string& language) {
    if (o_.format != "json") return;
    nlohmann::json doc;
    if (many_files_) doc["file"] = file_;
    doc["language"] = language;
    doc["segments"] = std::move(segments_);
    std::printf("%s\n", doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }

 private:
  const TranscribeCli& o_;
  std::string file_;
  bool many_files_;
  nlohmann::json segments_;
  int index_ = 1;
};

// "12.3 s" / "4 min 05 s" / "1 h 02 min"
std::string duration_text(double seconds) {
  char buf[48];
  const long long s = std::llround(std::max(seconds, 0.0));
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lld s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", s / 3600, s / 60 % 60);
  return buf;
}

// One self-overwriting line on stderr (only when stderr is a terminal): how much audio is done
// and, once a window has been timed, the estimated time left.
class Progress {
 public:
  explicit Progress(std::string file) : file_(std::move(file)), enabled_(isatty(STDERR_FILENO)) {}

  void update(int frames_done, int frames_total) {
    if (!enabled_ || frames_total <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (frames_done == 0) start_ = now;
    const double fraction = static_cast<double>(frames_done) / frames_total;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::string eta = "ETA --";
    if (frames_done > 0 && fraction < 1.0)
      eta = "ETA " + duration_text(elapsed * (1.0 - fraction) / fraction);
    else if (fraction >= 1.0)
      eta = "done in " + duration_text(elapsed);
    std::fprintf(stderr, "\r\033[K%s: %3.0f%% of %s, %s", file_.c_str(), 100.0 * fraction,
                 duration_text(frames_total * 0.01).c_str(), eta.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  // Clears the progress line before a segment is printed on the same terminal.
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }
  ~Progress() {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  std::string file_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

int run_transcribe(const TranscribeCli& o) {
  if (o.task != "transcribe" && o.task != "translate")
    throw std::invalid_argument("--task must be transcribe or translate");
  if (!(o.temperature >= 0.0f && o.temperature <= 1.0f))
    throw std::invalid_argument("--temperature must be in [0, 1]");
  if (o.beam_size < 0 || o.beam_size > 16) throw std::invalid_argument("--beam-size must be 0..16");
  if (o.best_of < 1 || o.best_of > 16) throw std::invalid_argument("--best-of must be 1..16");
  if (o.max_tokens < 0) throw std::invalid_argument("--max-tokens must be >= 0");

  // Default: half of the machine's memory, room for the model without starving the system.
  rt::MemoryBudget budget(o.budget_mb ? o.budget_mb << 20 : rt::default_budget_bytes(0.5));
  const int group = std::max({1, o.beam_size, o.best_of});
  const int threads = o.threads > 0
                          ? o.threads
                          : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 8);
  {
    // The whole run's plan (weights at their size in the file, which F16 keeps, plus every
    // workspace) is checked before anything is loaded.
    const auto config = ww::WhisperConfig::load(o.model);
    auto plan = ww::WhisperTranscriber::plan(config, group, threads);
    std::error_code ec;
    const auto weights =
        std::filesystem::file_size(std::filesystem::path(o.model) / "model.safetensors", ec);
    if (!ec) plan.push_back({"whisper weights (file size)", static_cast<std::size_t>(weights)});
    budget.check_plan(plan);
  }
  const auto model = ww::WhisperModel::load(o.model, budget);
  if (o.max_tokens > model->config.n_text_ctx / 2)
    throw std::invalid_argument("--max-tokens may be at most " +
                                std::to_string(model->config.n_text_ctx / 2));
  if (!o.language.empty() && model->tokens.multilingual)
    model->tokens.language_token(o.language);  // unknown codes fail before any audio work

  // Tokenizer: --tokenizer DIR first, then the model directory. Without one, JSON output still
  // carries token ids (text empty); the other formats need text.
  std::optional<ww::Tokenizer> tokenizer;
  try {
    std::vector<std::filesystem::path> dirs;
    if (!o.tokenizer.empty()) dirs.emplace_back(o.tokenizer);
    dirs.emplace_back(o.model);
    tokenizer.emplace(ww::Tokenizer::load(dirs));
  } catch (const std::exception& e) {
    if (!o.tokenizer.empty() || o.format != "json" || !o.initial_prompt.empty())
      throw std::runtime_error(std::string("tokenizer: ") + e.what());
    std::fprintf(stderr, "earshot transcribe: warning: no tokenizer (%s); text left empty\n",
                 e.what());
  }
  if (tokenizer && tokenizer->vocab_size() != model->config.n_vocab)
    throw std::runtime_error("tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                             " tokens but the model has " + std::to_string(model->config.n_vocab));

  ww::TranscribeOptions t;
  t.decode.language = o.language;
  t.decode.translate = o.task == "translate";
  t.decode.sample_len = o.max_tokens;
  t.decode.without_timestamps = o.no_timestamps;
  t.decode.beam_size = o.beam_size;
  t.decode.best_of = o.best_of;
  t.decode.seed = 1;
  t.condition_on_previous_text = !o.no_condition;
  t.temperatures.clear();
  if (o.no_fallback) {
    t.temperatures.push_back(o.temperature);
  } else {
    // The reference CLI: temperature, temperature + 0.2, ... up to 1.0.
    for (int i = 0; o.temperature + 0.2f * i <= 1.0f + 1e-6f; ++i)
      t.temperatures.push_back(o.temperature + 0.2f * static_cast<float>(i));
  }
  if (!o.initial_prompt.empty())
    t.initial_prompt = tokenizer->encode(" " + strip(o.initial_prompt));

  ww::ThreadTeam team(threads);  // created once; the model code only borrows it
  ww::WhisperTranscriber transcriber(*model, budget, group, &team);
  if (tokenizer) {
    const ww::Tokenizer* tok = &*tokenizer;
    transcriber.set_text_decoder([tok](std::span<const int> ids) { return tok->decode(ids); });
  }

  for (const auto& file : o.files) {
    // Streamed from disk window by window: memory does not grow with the recording's length.
    ww::WhisperMelStream mel(file, model->config.n_mels);
    if (mel.non_finite_replaced() != 0)
      std::fprintf(stderr, "earshot transcribe: warning: %zu NaN/Inf samples in %s read as 0\n",
                   mel.non_finite_replaced(), file.c_str());
    TranscriptPrinter printer(o, file, o.files.size() > 1);
    std::string language;
    {
      Progress progress(file);
      language = transcriber.transcribe(
          mel, t,
          [&printer, &progress](ww::TranscriptSegment&& s) {
            progress.clear();
            printer.add(s);
          },
          [&progress](int done, int total) { progress.update(done, total); });
    }
    printer.finish(language);
  }
  return 0;
}

const RegisterCommand kTranscribe{Command{
    "transcribe", "Transcribe audio files with a Whisper model (Hugging Face directory)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<TranscribeCli>();
      sub.add_option("--model", o->model,
                     "Whisper model directory as on the Hugging Face Hub (config.json, "
                     "model.safetensors F32 or F16, tokenizer files)")
          ->required();
      sub.add_option("files", o->files,
                     "Audio files: any format, rate and channel count libsndfile reads "
                     "(converted to 16 kHz mono; streamed from disk, any length)")
          ->required();
      sub.add_option("--format", o->format, "Output: text, json, srt or vtt")
          ->check(CLI::IsMember({"text", "json", "srt", "vtt"}))
          ->capture_default_str();
      sub.add_option("--language", o->language,
                     "Language code such as en, de, ja (default: detected from the first 30 s)");
      sub.add_option("--task", o->task, "transcribe, or translate (to English)")
          ->check(CLI::IsMember({"transcribe", "translate"}))
          ->capture_default_str();
      sub.add_option("--temperature", o->temperature,
                     "Sampling temperature of the first try (0 = greedy / beam search)")
          ->capture_default_str();
      sub.add_flag("--no-fallback", o->no_fallback,
                   "Do not retry at temperature +0.2 steps up to 1.0 when a window's text is "
                   "too repetitive (compression ratio > 2.4) or unlikely (avg log-prob < -1)");
      sub.add_option("--max-tokens", o->max_tokens,
                     "Most tokens sampled per 30 s window (0 = n_text_ctx / 2, i.e. 224)")
          ->capture_default_str();
      sub.add_flag("--no-timestamps", o->no_timestamps,
                   "Decode without timestamp tokens (one segment per 30 s window)");
      sub.add_flag("--timestamps", o->timestamps, "Text format: prefix lines with [start --> end]");
      sub.add_option("--beam-size", o->beam_size,
                     "Beam search with this many beams at temperature 0 (0 = greedy; the "
                     "reference CLI uses 5)")
          ->capture_default_str();
      sub.add_option("--best-of", o->best_of, "Candidates sampled when temperature > 0")
          ->capture_default_str();
      sub.add_option("--initial-prompt", o->initial_prompt,
                     "Text to condition the first window on (names, spelling, style)");
      sub.add_flag("--no-condition-on-previous-text", o->no_condition,
                   "Do not feed the previous window's text as the prompt (less looping, less "
                   "consistency)");
      sub.add_option("--tokenizer", o->tokenizer,
                     "Directory with vocab.json + merges.txt or tokenizer.json (default: the "
                     "model directory)");
      sub.add_option("--budget-mb", o->budget_mb,
                     "Memory budget in MiB for weights and workspaces (default: half of RAM)");
      sub.add_option("--threads", o->threads, "Compute threads (default: CPU cores, at most 8)")
          ->check(CLI::Range(1, 64));
      sub.footer(
          "Progress and the estimated time left are shown on stderr when it is a terminal.\n\n"
          "Examples:\n"
          "  earshot transcribe --model whisper-tiny talk.wav\n"
          "  earshot transcribe --model whisper-base --language de --format srt interview.flac "
          "> interview.srt\n"
          "  earshot transcribe --model whisper-large-v3 --task translate --beam-size 5 "
          "--format json lecture.ogg\n"
          "  earshot transcribe --model whisper-tiny --tokenizer tokenizer-dir --format vtt "
          "a.wav b.wav");
      return [o] { return run_transcribe(*o); };
    }}};

}  // namespace
}  // namespace earshot::app
