// One 30-second window decoded the way openai/whisper's decode() does it.
//
// Initial tokens: [<|startofprev|> prompt...] <|startoftranscript|> <|lang|> <|task|>
// [<|notimestamps|>] [prefix...]; then up to sample_len tokens by greedy argmax (temperature 0),
// sampling (temperature > 0, best_of candidates) or beam search, with the logit filters of
// logit_filters.hpp. The result carries the reference's avg_logprob (sum of the chosen tokens'
// log-probabilities, EOT included, over len + 1), no_speech_prob (softmax at the sot position)
// and compression ratio (zlib, of the decoded text).
//
// All decoding memory (KV caches for max_group sequences, logits and log-probability rows,
// per-sequence token lists, beam candidates and finished sequences) is reserved at
// construction: greedy, sampling (best_of) and beam search decodes into a reused result
// allocate nothing per step (and nothing at all without a text decoder).
#pragma once

#include "models/whisper/beam_search.hpp"
#include "models/whisper/logit_filters.hpp"
#include "models/whisper/whisper_decoder.hpp"

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace earshot::models::whisper {

struct DecodingOptions {
  bool translate = false;  // task: transcribe (false) or translate (true)
  std::string language;    // "" = detect (multilingual models) / "en"
  float temperature = 0.0f;
  int sample_len = 0;  // maximum sampled tokens; 0 = n_text_ctx / 2
  int best_of = 1;     // independent samples when temperature > 0
  int beam_size = 0;   // > 1: beam search (temperature 0)
  float patience = 1.0f;
  std::vector<int> prompt;  // previous text, for <|startofprev|> conditioning
  std::vector<int> prefix;  // forced start of the transcript
  bool suppress_blank = true;
  // Suppressed every step in addition to the task/sot/no-speech specials; empty = the model's
  // default (config.json suppress_tokens, the reference's "-1").
  std::vector<int> suppress_tokens;
  bool without_timestamps = false;
  float max_initial_timestamp = 1.0f;  // seconds; < 0 = no limit
  std::uint64_t seed = 0;              // sampling at temperature > 0
};

struct DecodingResult {
  std::vector<int> tokens;  // sampled tokens, no initial tokens, no EOT
  std::string language;
  std::string text;  // when a text decoder is set (timestamps dropped, stripped)
  float sum_logprob = 0.0f;
  float avg_logprob = 0.0f;
  float no_speech_prob = 0.0f;
  float temperature = 0.0f;
  double compression_ratio = 0.0;  // 0 when no text decoder is set
};

// Turns token ids into UTF-8 (the tokenizer's decode); used for text and compression ratio.
using TextDecoder = std::function<std::string(std::span<const int>)>;

class WhisperDecoding {
 public:
  // max_group: the most sequences decoded together (beam_size / best_of).
  // cross_kv: how the window's cross-attention K/V are stored (whisper_decoder.hpp).
  WhisperDecoding(const WhisperModel& model, rt::MemoryBudget& budget, int max_group = 5,
                  Parallel* parallel = nullptr, CrossKvPrecision cross_kv = CrossKvPrecision::kF16);

  void set_text_decoder(TextDecoder decoder) { text_decoder_ = std::move(decoder); }
  // See WhisperDecoder::set_gemm_workspaces (e.g. the encoder's, on the same threads).
  void set_gemm_workspaces(GemmWorkspace* workspaces) { decoder_.set_gemm_workspaces(workspaces); }
  const WhisperModel& model() const { return model_; }

  // Cross-attention K/V for this window's audio features [n_audio_ctx, d]; a reduced context
  // (fewer positions than the model's) is given as n_audio_ctx, 0 = full.
  void set_audio(const float* audio_features, int n_audio_ctx = 0);

  // Language probabilities from the logits at <|startoftranscript|> over the language tokens,
  // in token order. Throws std::logic_error for English-only models.
  std::vector<std::pair<std::string, float>> detect_language();

  DecodingResult decode(const DecodingOptions& options);
  // The same, reusing `result`'s buffers: greedy decoding with a given language and no text
  // decoder then allocates nothing at all once `result` has grown (steady state).
  void decode_into(const DecodingOptions& options, DecodingResult& result);

 private:
  void initial_tokens(const DecodingOptions& o, const std::string& language, int sample_len,
                      int& sot_index);
  void configure_filters(const DecodingOptions& o, int sample_begin);
  int sample(std::span<const float> logits, float temperature);
  void finish_text(DecodingResult& r);

  const WhisperModel& model_;
  int max_group_;
  WhisperDecoder decoder_;
  rt::Reservation logits_;    // [max_group, n_vocab]
  rt::Reservation logprobs_;  // [max_group, n_vocab]
  TextDecoder text_decoder_;
  std::mt19937_64 rng_;
  std::vector<std::vector<int>> tokens_;  // per sequence, capacity n_text_ctx + 1
  std::vector<int> initial_;              // capacity n_text_ctx
  LogitFilters filters_;
  std::vector<int> rows_seq_, rows_token_;
  std::vector<float> sum_logprobs_;
  std::vector<int> source_;       // max_group: each sequence's source after a reorder
  std::vector<int> text_tokens_;  // capacity n_text_ctx + 2
  BeamSearch beams_;
};

// len(text) / len(zlib.compress(text)), the reference's repetition measure.
double compression_ratio(const std::string& text);

}  // namespace earshot::models::whisper
