// `earshot caption`: live captions with Whisper from a microphone, a JACK port or a file, with
// optional Silero VAD gating. Logic: nodes/caption/caption_session.
#include "apps/command.hpp"
#include "nodes/caption/caption_session.hpp"
#include "rt/stop_signal.hpp"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

namespace earshot::app {
namespace {

namespace cap = earshot::nodes::caption;

int run_caption_command(cap::CaptionRunOptions o) {
  // Ctrl-C / SIGTERM: the pending text is committed, the output closed, the report printed.
  const rt::ScopedStopSignal interrupt;
  o.live = o.format == "text" && o.output.empty() && isatty(STDOUT_FILENO) != 0;
  cap::run_caption(o, stdout, stderr, &rt::ScopedStopSignal::flag());
  return 0;
}

const RegisterCommand kRegisterCaption{Command{
    "caption",
    "Live captions with Whisper: a sliding window transcribed every step, text committed when\n"
    "two consecutive passes agree (partial text shown dimmed on a terminal). Ctrl-C commits\n"
    "what is pending. Reports real-time factor, commit latency, dropped audio, peak memory.",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<cap::CaptionRunOptions>();
      sub.add_option("--model", o->model,
                     "Whisper model directory (config.json, model.safetensors)")
          ->required();
      sub.add_option("--input", o->input,
                     "mic (PortAudio input), jack (a JACK input port), or an audio FILE")
          ->capture_default_str();
      sub.add_option("--device", o->device, "PortAudio input device (index or name)")
          ->capture_default_str();
      sub.add_flag("--realtime", o->realtime, "FILE input: play at real-time pace");
      sub.add_option("--language", o->caption.language,
                     "Language code (default: detected once on the first speech)");
      sub.add_option("--step-ms", o->caption.step_ms, "Transcribe every this many ms of audio")
          ->capture_default_str();
      auto confirm = std::make_shared<int>(-1);
      sub.add_option("--confirm-ms", *confirm,
                     "When a step's pass leaves unconfirmed text, confirm it with one more pass\n"
                     "this far into the step (as soon as the worker is idle, and only while the\n"
                     "passes take under half the audio time): commits about a step sooner. 0 =\n"
                     "off. Default: 500 for live input (mic, jack, --realtime), 0 for a file read\n"
                     "as fast as possible");
      sub.add_option("--format", o->format, "Output: text, jsonl, srt or vtt")
          ->check(CLI::IsMember({"text", "jsonl", "srt", "vtt"}))
          ->capture_default_str();
      sub.add_option("--output", o->output, "Write captions to this file instead of stdout");
      sub.add_option("--vad-model", o->vad_model,
                     "Silero VAD (silero_vad.onnx or a safetensors export): no text from silence "
                     "or noise, utterance ends commit");
      sub.add_option("--budget-mb", o->budget_mb, "Memory budget in MiB (default: half of RAM)");
      sub.add_option("--tokenizer", o->tokenizer,
                     "Directory with tokenizer files (default: the model directory)");
      sub.add_option("--max-tokens", o->caption.max_tokens,
                     "Most tokens sampled per pass (default n_text_ctx / 2)");
      sub.add_option("--prompt-tokens", o->caption.prompt_tokens,
                     "Committed tokens fed back as the prompt")
          ->capture_default_str();
      auto audio_ctx = std::make_shared<std::string>("auto");
      sub.add_option(
             "--audio-ctx", *audio_ctx,
             "Encoder context per pass: auto (the buffered audio + 1 s, rounded up to 1.28 s; a\n"
             "few-second window costs a fraction of a 30 s encode), full (always 30 s: the\n"
             "context Whisper was trained on, slowest, no reduced-context quality cost), or N\n"
             "(at least N positions of 20 ms). Reduced contexts trade accuracy for speed: the\n"
             "model never saw short windows in training, so words can differ from a full run")
          ->capture_default_str();
      sub.add_option("--period", o->period, "Frames per audio callback")->capture_default_str();
      sub.add_option("--threads", o->threads, "Compute threads (default: CPU cores, at most 8)");
      return [o, audio_ctx, confirm] {
        o->caption.audio_ctx = cap::parse_audio_ctx(*audio_ctx);
        const bool live = o->input == "mic" || o->input == "jack" || o->realtime;
        o->caption.confirm_ms = *confirm >= 0 ? *confirm : live ? cap::kLiveConfirmMs : 0;
        return run_caption_command(*o);
      };
    }}};

}  // namespace
}  // namespace earshot::app
