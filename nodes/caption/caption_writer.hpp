// Turns caption events into what the user sees: a live terminal line (committed text plain,
// the partial guess dimmed, redrawn in place), or text / JSON-lines / SRT / WebVTT output.
//
// Runs on the consumer (control) thread: it owns the tokenizer's decoding, which allocates.
// Committed text goes through a streaming UTF-8 decoder, so a character split across two
// commits is printed whole once complete.
#pragma once

#include "models/whisper/tokenizer.hpp"
#include "models/whisper/tokenizer_stream.hpp"
#include "nodes/caption/caption_event.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace earshot::nodes::caption {

enum class CaptionFormat { kText, kJsonl, kSrt, kVtt };
CaptionFormat parse_caption_format(const std::string& name);  // throws std::invalid_argument

class CaptionWriter {
 public:
  // `tokenizer` may be null (JSON lines then carry token ids and empty text). `live`: redraw a
  // terminal line in place (text format on a tty).
  CaptionWriter(std::FILE* out, CaptionFormat format, const models::whisper::Tokenizer* tokenizer,
                bool live);

  void write(const CaptionEvent& event);
  // End of the stream: completes held UTF-8, closes the open cue and the live line.
  void close();

  // Commit latencies seen so far (seconds), for the end-of-run report: per commit event (its
  // last token), per committed token, and per utterance end (the last token committed when
  // the VAD flushed an utterance, whichever pass committed it).
  const std::vector<double>& commit_latencies() const { return latencies_; }
  const std::vector<double>& token_latencies() const { return token_latencies_; }
  const std::vector<double>& utterance_latencies() const { return utterance_latencies_; }
  const std::string& committed_text() const { return committed_; }
  std::size_t commits() const { return latencies_.size(); }

 private:
  std::string decode(const CaptionEvent& e);
  void write_jsonl(const CaptionEvent& e, const std::string& text);
  void add_to_cue(const CaptionEvent& e, const std::string& text);
  void close_cue();
  void redraw_live();

  std::FILE* out_;
  CaptionFormat format_;
  const models::whisper::Tokenizer* tokenizer_;
  bool live_;
  std::optional<models::whisper::StreamingDecoder> stream_;
  std::string committed_;  // all committed text
  std::string line_;       // live mode: committed text of the current terminal line
  std::string partial_;
  std::vector<double> latencies_;
  std::vector<double> token_latencies_;
  std::vector<double> utterance_latencies_;
  bool token_since_utterance_ = false;  // a token was committed since the last utterance end
  // The cue being built (SRT/VTT, plain text off a tty).
  std::string cue_text_;
  double cue_start_ = 0.0, cue_end_ = 0.0;
  int cue_index_ = 0;
  bool closed_ = false;
};

// "HH:MM:SS,mmm" (SRT, marker ',') or "HH:MM:SS.mmm" (VTT, '.').
std::string caption_clock(double seconds, char decimal_marker);

// Nearest-rank percentile (p in [0, 100]) of `values`; 0 for none.
double percentile(std::vector<double> values, double p);

}  // namespace earshot::nodes::caption
