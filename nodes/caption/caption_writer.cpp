#include "nodes/caption/caption_writer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace earshot::nodes::caption {
namespace {

// A cue (and a live line) ends at a sentence end, or once it is this long.
constexpr std::size_t kCueChars = 80;
constexpr double kCueSeconds = 6.0;

std::string strip(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

bool ends_sentence(const std::string& s) {
  const std::string t = strip(s);
  return !t.empty() && (t.back() == '.' || t.back() == '?' || t.back() == '!');
}

// The last `max_bytes` of `s`, starting at a UTF-8 character boundary.
std::string tail_utf8(const std::string& s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t from = s.size() - max_bytes;
  while (from < s.size() && (static_cast<unsigned char>(s[from]) & 0xC0) == 0x80) ++from;
  return s.substr(from);
}

}  // namespace

CaptionFormat parse_caption_format(const std::string& name) {
  if (name == "text") return CaptionFormat::kText;
  if (name == "jsonl") return CaptionFormat::kJsonl;
  if (name == "srt") return CaptionFormat::kSrt;
  if (name == "vtt") return CaptionFormat::kVtt;
  throw std::invalid_argument("unknown caption format '" + name + "' (text, jsonl, srt, vtt)");
}

std::string caption_clock(double seconds, char decimal_marker) {
  if (!(seconds >= 0.0)) seconds = 0.0;
  const long long ms = std::llround(seconds * 1000.0);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60,
                ms / 1000 % 60, decimal_marker, ms % 1000);
  return buf;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const std::size_t i = static_cast<std::size_t>(std::clamp(rank, 1.0, double(values.size())));
  return values[i - 1];
}

CaptionWriter::CaptionWriter(std::FILE* out, CaptionFormat format,
                             const models::whisper::Tokenizer* tokenizer, bool live)
    : out_(out),
      format_(format),
      tokenizer_(tokenizer),
      live_(live && format == CaptionFormat::kText) {
  if (tokenizer_ != nullptr) stream_.emplace(*tokenizer_);
  if (format_ == CaptionFormat::kVtt) std::fputs("WEBVTT\n\n", out_);
}

std::string CaptionWriter::decode(const CaptionEvent& e) {
  if (tokenizer_ == nullptr) return {};
  const std::span<const int> ids(e.tokens, static_cast<std::size_t>(e.n_tokens));
  if (e.kind == CaptionEventKind::kPartial) return tokenizer_->decode_text(ids);
  std::string text;
  for (int id : ids) stream_->push(id, text);
  return text;
}

void CaptionWriter::write(const CaptionEvent& e) {
  if (closed_) return;
  const bool commit = e.kind == CaptionEventKind::kCommit;
  const std::string text = decode(e);
  if (commit) {
    latencies_.push_back(e.latency);
    for (int i = 0; i < e.n_tokens; ++i) token_latencies_.push_back(e.latency + e.ends_before[i]);
    token_since_utterance_ = token_since_utterance_ || e.n_tokens > 0;
    committed_ += text;
  } else if (e.utterance_end && token_since_utterance_) {
    // The partial that closes an utterance end's pass: its last committed token was the end.
    utterance_latencies_.push_back(token_latencies_.back());
    token_since_utterance_ = false;
  }
  switch (format_) {
    case CaptionFormat::kJsonl:
      write_jsonl(e, text);
      break;
    case CaptionFormat::kText:
      if (live_) {
        if (commit) {
          line_ += text;
          if (ends_sentence(line_) || line_.size() >= kCueChars) {
            partial_.clear();
            redraw_live();
            std::fputc('\n', out_);
            line_.clear();
          }
        } else {
          partial_ = text;
        }
        redraw_live();
      } else if (commit) {
        add_to_cue(e, text);
      }
      break;
    case CaptionFormat::kSrt:
    case CaptionFormat::kVtt:
      if (commit) add_to_cue(e, text);
      break;
  }
  std::fflush(out_);
}

void CaptionWriter::write_jsonl(const CaptionEvent& e, const std::string& text) {
  nlohmann::json j;
  j["type"] = e.kind == CaptionEventKind::kCommit ? "commit" : "partial";
  j["step"] = e.step;
  j["start"] = e.start;
  j["end"] = e.end;
  j["text"] = text;
  j["tokens"] = std::vector<int>(e.tokens, e.tokens + e.n_tokens);
  if (e.kind == CaptionEventKind::kCommit) j["latency"] = e.latency;
  std::fprintf(out_, "%s\n",
               j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void CaptionWriter::add_to_cue(const CaptionEvent& e, const std::string& text) {
  if (cue_text_.empty()) cue_start_ = e.start;
  cue_text_ += text;
  cue_end_ = std::max(cue_end_, e.end);
  if (ends_sentence(cue_text_) || cue_text_.size() >= kCueChars ||
      cue_end_ - cue_start_ >= kCueSeconds)
    close_cue();
}

void CaptionWriter::close_cue() {
  const std::string text = strip(cue_text_);
  cue_text_.clear();
  if (text.empty()) return;
  switch (format_) {
    case CaptionFormat::kSrt:
      std::fprintf(out_, "%d\n%s --> %s\n%s\n\n", ++cue_index_,
                   caption_clock(cue_start_, ',').c_str(), caption_clock(cue_end_, ',').c_str(),
                   text.c_str());
      break;
    case CaptionFormat::kVtt:
      std::fprintf(out_, "%s --> %s\n%s\n\n", caption_clock(cue_start_, '.').c_str(),
                   caption_clock(cue_end_, '.').c_str(), text.c_str());
      break;
    default:
      std::fprintf(out_, "[%s --> %s] %s\n", caption_clock(cue_start_, '.').c_str(),
                   caption_clock(cue_end_, '.').c_str(), text.c_str());
      break;
  }
}

void CaptionWriter::redraw_live() {
  // Carriage return + erase line, then the tail of the line that fits a terminal.
  std::string shown = tail_utf8(line_, kCueChars);
  std::fprintf(out_, "\r\033[K%s", shown.c_str());
  if (!partial_.empty())
    std::fprintf(out_, "\033[2m%s\033[0m", tail_utf8(partial_, kCueChars).c_str());
}

void CaptionWriter::close() {
  if (closed_) return;
  std::string held;
  if (stream_) stream_->finish(held);
  committed_ += held;
  if (live_) {
    line_ += held;
    partial_.clear();
    redraw_live();
    if (!line_.empty()) std::fputc('\n', out_);
  } else if (format_ != CaptionFormat::kJsonl) {
    cue_text_ += held;
    close_cue();
  }
  std::fflush(out_);
  closed_ = true;
}

}  // namespace earshot::nodes::caption
