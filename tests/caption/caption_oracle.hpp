// A hypothesis oracle: the caption node's own committed-latency floor on real speech.
//
// Random-weight Whisper rarely agrees with itself between passes, so the latency of the
// streaming policy (local agreement, VAD flushes, trimming, queueing) cannot be judged with
// it. Here every hypothesis is the text a perfect recogniser would give the window:
//
//   reference speech segments (Silero's segments_v6.2.json for speech_human_16k.wav)
//   -> words every ~300 ms over each segment, each a distinct token id
//   -> a window's hypothesis: the words of which at least `audible_fraction` lies inside the
//      window, between timestamp tokens (a segment per reference segment, split into
//      "sentences" of at most 16 words; closed once its end is in the window)
//
// while the node, the real Silero VAD gating it, the audio feeding (the CaptionFeeder's
// blocks, arriving at real-time pace) and optionally the real Whisper compute per pass
// (random weights at the real dimensions, decoding as many tokens as the oracle's text has)
// stay the real ones. simulate() runs the stream on a simulated clock: audio arrives at its
// stream time; the worker pushes what has arrived; a push costs its measured wall time (or a
// fixed time per pass); commits exist when the push that made them returns.
//
// Latency, as issue 3 defines it: end of the spoken audio (of the word, or of the utterance)
// to the moment the committed text exists, in stream time, queueing and compute included.
//
// Test and benchmark code only: the production node knows nothing of it (it is a
// WindowTranscriber, the node's seam for recognisers).
#pragma once

#include "models/core/json_file.hpp"
#include "models/whisper/special_token_ids.hpp"
#include "nodes/caption/caption_node.hpp"
#include "nodes/caption/window_transcriber.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace earshot::nodes::caption::oracle {

using Span = std::pair<double, double>;  // [start, end) in stream seconds

// The reference speech segments of the Silero fixture (`set`: "default" or "strict").
inline std::vector<Span> reference_segments(const std::filesystem::path& json,
                                            const std::string& set = "default") {
  const nlohmann::json j = models::read_json_file(json);
  std::vector<Span> out;
  for (const auto& s : j.at(set).at("segments_samples"))
    out.emplace_back(s.at(0).get<double>() / 16000.0, s.at(1).get<double>() / 16000.0);
  return out;
}

struct Word {
  int id = 0;
  double start = 0.0, end = 0.0;
  int sentence = 0;            // index into Script::sentences
  bool utterance_end = false;  // last word before a pause of utterance_gap or more (or the end)
};

struct Script {
  std::vector<Span> speech;     // the reference segments
  std::vector<Span> sentences;  // the oracle's timestamped segments
  std::vector<Word> words;
};

// Token ids of the oracle's words: plain text ids of every Whisper vocabulary, all distinct (so
// no repetition rule ever fires and every commit names its words).
inline constexpr int kFirstWordId = 1000;

inline Script make_script(std::vector<Span> speech, double word_seconds = 0.3,
                          int max_sentence_words = 16, double utterance_gap = 0.5) {
  Script s;
  s.speech = std::move(speech);
  for (std::size_t k = 0; k < s.speech.size(); ++k) {
    const auto [a, b] = s.speech[k];
    const int n = std::max(1, static_cast<int>(std::lround((b - a) / word_seconds)));
    const double d = (b - a) / n;
    for (int i = 0; i < n; ++i) {
      if (i % max_sentence_words == 0) {
        const int left = std::min(max_sentence_words, n - i);
        s.sentences.emplace_back(a + i * d, a + (i + left) * d);
      }
      Word w;
      w.id = kFirstWordId + static_cast<int>(s.words.size());
      w.start = a + i * d;
      w.end = a + (i + 1) * d;
      w.sentence = static_cast<int>(s.sentences.size()) - 1;
      s.words.push_back(w);
    }
    const bool last = k + 1 == s.speech.size();
    if (last || s.speech[k + 1].first - b >= utterance_gap) s.words.back().utterance_end = true;
  }
  return s;
}

// Gives each window the oracle's text; optionally runs a real transcriber first (discarding
// its tokens) so that a pass costs what Whisper costs.
class OracleTranscriber final : public WindowTranscriber {
 public:
  // `compute` (optional, not owned): run for its cost, asked for as many tokens as the
  // oracle's text has (random weights never end a transcript early), plus a third for
  // multi-token words and one for the end of text.
  OracleTranscriber(const models::whisper::SpecialTokenIds& ids, const Script& script,
                    double audible_fraction, WindowTranscriber* compute = nullptr)
      : ids_(ids), script_(script), fraction_(audible_fraction), compute_(compute) {}

  void prepare(rt::MemoryBudget& budget, models::whisper::Parallel* parallel) override {
    if (compute_ != nullptr) compute_->prepare(budget, parallel);
    result_.tokens.reserve(2 * script_.words.size() + 2 * script_.sentences.size() + 2);
  }

  const models::whisper::DecodingResult& transcribe(const WindowRequest& r,
                                                    PassTimes& times) override {
    const double w0 = r.start_seconds;
    const double w1 = w0 + static_cast<double>(r.window_len) / 16000.0;
    auto stamp = [&](double t) {
      const double rel = std::clamp(t - w0, 0.0, w1 - w0);
      const int i = std::min(static_cast<int>(std::lround(rel / 0.02)), r.n_ctx);
      return ids_.timestamp_begin + i;
    };
    result_.tokens.clear();
    int open = -1, n_words = 0;
    for (const Word& w : script_.words) {
      const double heard = std::min(w.end, w1) - std::max(w.start, w0);
      if (heard < fraction_ * (w.end - w.start) - 1e-9) continue;
      if (w.sentence != open) {
        if (open >= 0) close(open, w1, stamp);
        open = w.sentence;
        result_.tokens.push_back(stamp(script_.sentences[static_cast<std::size_t>(open)].first));
      }
      result_.tokens.push_back(w.id);
      ++n_words;
    }
    if (open >= 0) close(open, w1, stamp);
    result_.no_speech_prob = 0.0f;
    result_.avg_logprob = 0.0f;
    if (compute_ != nullptr) {
      WindowRequest costed = r;
      costed.sample_len =
          std::min(r.sample_len, static_cast<int>(result_.tokens.size()) + n_words / 3 + 1);
      compute_->transcribe(costed, times);
    }
    return result_;
  }

  const std::string& language() const override { return language_; }

 private:
  // A sentence is closed by a timestamp once its end is in the window (Whisper places the end
  // of a segment only when it heard it).
  template <typename Stamp>
  void close(int sentence, double w1, Stamp& stamp) {
    const double end = script_.sentences[static_cast<std::size_t>(sentence)].second;
    if (end <= w1) result_.tokens.push_back(stamp(end));
  }

  models::whisper::SpecialTokenIds ids_;
  const Script& script_;
  double fraction_;
  WindowTranscriber* compute_;
  models::whisper::DecodingResult result_;
  std::string language_ = "en";
};

struct SimOptions {
  // >= 0: every pass costs this much stream time (no compute measured); < 0: a push costs its
  // measured time (VAD, passes and bookkeeping) on `clock`.
  double fixed_pass_seconds = -1.0;
  // kWall: the wall clock (the node's team of threads on a quiet machine); kThreadCpu: the
  // calling thread's CPU time (a single-threaded node on a shared, loaded machine: what the
  // push cost one core, whatever else ran).
  enum class Clock { kWall, kThreadCpu } clock = Clock::kWall;
  // Measured costs are multiplied by this (an estimate of another machine or thread count
  // from a measured ratio; 1 = as measured).
  double cost_scale = 1.0;
  std::size_t period = 512;       // samples per capture callback (arrival granularity)
  std::size_t feed_block = 2048;  // most samples the feeder pushes at once (CaptionFeeder)
};

struct SimResult {
  std::vector<double> word_latency;       // committed words, script order
  std::vector<double> utterance_latency;  // words that end an utterance
  std::vector<double> node_latency;       // what the node's commit events report
  int lost = 0;                           // words never committed
  int duplicated = 0;                     // committed more than once
  int out_of_order = 0;                   // committed before an earlier word
  int flushes = 0;                        // VAD utterance ends
  int false_flushes = 0;      // utterance ends placed inside reference speech (> 64 ms into it)
  double busy_seconds = 0.0;  // worker time charged
  double audio_seconds = 0.0;
  double lag_end = 0.0;  // worker still busy this long after the audio ended
  CaptionStats stats;
};

inline double percentile_of(std::vector<double> v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Streams `audio` through a prepared `node` whose transcriber is an OracleTranscriber over
// `script`.
inline SimResult simulate(CaptionNode& node, std::span<const float> audio, const Script& script,
                          const SimOptions& o) {
  constexpr double kRate = 16000.0;
  const std::size_t n = audio.size();
  std::vector<double> commit_time(script.words.size(), -1.0);
  SimResult res;
  double now = 0.0;
  std::size_t pos = 0;
  int last_committed = -1;
  std::uint64_t utterances = 0;
  auto wall = [&o] {
    if (o.clock == SimOptions::Clock::kThreadCpu) {
      timespec t{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
      return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  auto collect = [&] {
    CaptionEvent e;
    while (node.events().try_dequeue(e)) {
      if (e.kind != CaptionEventKind::kCommit) continue;
      res.node_latency.push_back(e.latency);
      for (int i = 0; i < e.n_tokens; ++i) {
        const int k = e.tokens[i] - kFirstWordId;
        if (k < 0 || k >= static_cast<int>(script.words.size())) continue;
        if (commit_time[static_cast<std::size_t>(k)] >= 0.0) {
          ++res.duplicated;
          continue;
        }
        commit_time[static_cast<std::size_t>(k)] = now;
        if (k < last_committed) ++res.out_of_order;
        last_committed = std::max(last_committed, k);
      }
    }
    const CaptionStats& st = node.stats();
    if (st.utterances != utterances) {
      utterances = st.utterances;
      ++res.flushes;
      const double end = st.last_utterance_end;
      for (const Span& s : script.speech)
        if (end > s.first + 0.064 && end < s.second - 0.064) ++res.false_flushes;
    }
  };
  auto charge = [&](auto&& step) {
    const std::uint64_t passes = node.stats().passes;
    const double t0 = wall();
    step();
    const double took =
        o.fixed_pass_seconds >= 0.0
            ? o.fixed_pass_seconds * static_cast<double>(node.stats().passes - passes)
            : o.cost_scale * (wall() - t0);
    now += took;
    res.busy_seconds += took;
    collect();
  };
  while (pos < n) {
    // Audio delivered by `now`: whole capture periods.
    const std::size_t periods = static_cast<std::size_t>(std::floor(now * kRate / o.period + 1e-9));
    const std::size_t arrived = std::min(n, periods * o.period);
    if (arrived <= pos) {
      now = std::min(static_cast<double>(n), static_cast<double>((pos / o.period + 1) * o.period)) /
            kRate;
      continue;
    }
    const std::size_t take = std::min(o.feed_block, arrived - pos);
    node.set_backlog_seconds(static_cast<double>(arrived - pos - take) / kRate);
    charge([&] { node.push(audio.subspan(pos, take)); });
    pos += take;
  }
  node.set_backlog_seconds(0.0);
  now = std::max(now, static_cast<double>(n) / kRate);
  charge([&] { node.finish(); });
  res.lag_end = now - static_cast<double>(n) / kRate;
  res.audio_seconds = static_cast<double>(n) / kRate;
  for (std::size_t k = 0; k < script.words.size(); ++k) {
    if (commit_time[k] < 0.0) {
      ++res.lost;
      continue;
    }
    const double latency = commit_time[k] - script.words[k].end;
    res.word_latency.push_back(latency);
    if (script.words[k].utterance_end) res.utterance_latency.push_back(latency);
  }
  res.stats = node.stats();
  return res;
}

}  // namespace earshot::nodes::caption::oracle
