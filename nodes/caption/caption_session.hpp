// `earshot caption`: live captions from a microphone (PortAudio), a JACK port or a file (paced
// in real time or as fast as possible). The command (apps/cmd_caption.cpp) only parses options;
// the wiring lives here so tests reach it.
//
//   backend audio thread: CaptionCapture (mono mix -> SPSC ring, wake)        [no allocation]
//   worker thread:        CaptionFeeder (ring -> 16 kHz -> CaptionNode passes) -> event queue
//   this thread:          events -> CaptionWriter (terminal line / jsonl / srt / vtt / text)
//
// A stop request (Ctrl-C) or the end of the input stops the audio, lets the node finish (last
// pass, everything pending committed) and closes the output. The end-of-run report (real-time
// factor, commit latency p50/p95, dropped audio, peak memory) goes to `report`.
#pragma once

#include "nodes/caption/caption_node.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

namespace earshot::nodes::caption {

struct CaptionRunOptions {
  std::string model;               // Whisper directory (config.json, model.safetensors)
  std::string tokenizer;           // tokenizer directory; empty = the model directory
  std::string input = "mic";       // mic | jack | FILE
  std::string device = "default";  // PortAudio input device (index or name)
  bool realtime = false;           // FILE: pace at the file's rate instead of flat out
  std::string format = "text";     // text | jsonl | srt | vtt
  std::string output;              // file; empty = `out`
  std::string vad_model;           // Silero VAD (.onnx or .safetensors); empty = no gating
  std::size_t budget_mb = 0;       // 0 = half of the machine's memory
  std::uint32_t period = 512;      // frames per callback asked of the backend
  int threads = 0;                 // Whisper compute threads; 0 = CPU cores (at most 8)
  double ring_seconds = 20.0;      // audio the capture ring holds while the worker is busy
  bool live = false;               // text format: redraw a terminal line (stdout is a tty)
  CaptionOptions caption;
};

struct CaptionRunReport {
  double audio_seconds = 0.0;    // captured
  double compute_seconds = 0.0;  // worker busy: Whisper passes + VAD
  double wall_seconds = 0.0;
  double real_time_factor = 0.0;                            // compute / audio (< 1 keeps up)
  double latency_p50 = 0.0, latency_p95 = 0.0;              // per commit event (its last token)
  double token_latency_p50 = 0.0, token_latency_p95 = 0.0;  // per committed token
  double utterance_latency_p50 = 0.0, utterance_latency_p95 = 0.0;  // per VAD utterance end
  std::size_t commits = 0, committed_tokens = 0, utterance_ends = 0;
  double dropped_seconds = 0.0;  // capture ring overflows
  std::uint64_t dropped_events = 0;
  std::uint64_t xruns = 0;
  std::size_t peak_bytes = 0;      // memory budget peak
  std::size_t peak_rss_bytes = 0;  // the process's peak resident set (model files included)
  CaptionStats stats;
  std::string committed_text;
};

CaptionRunReport run_caption(const CaptionRunOptions& options, std::FILE* out, std::FILE* report,
                             const std::atomic<bool>* stop_requested = nullptr);

}  // namespace earshot::nodes::caption
