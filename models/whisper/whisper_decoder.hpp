// Whisper's text decoder with a preallocated self-attention KV cache.
//
//   token embedding + learned positions -> N blocks [causal self-attention over the cache,
//   cross-attention over the audio features, MLP] -> final LayerNorm -> logits = x . E^T
//
// The cache holds `max_sequences` sequences (beams) of the full text context (n_text_ctx), so a
// token is appended in O(1) and nothing is allocated per step. Cross-attention keys/values are
// computed once per audio window by set_audio() and shared by every sequence and token.
// Beams are reordered with rearrange(), which moves cache ownership and copies only when one
// beam forks into several.
#pragma once

#include "models/whisper/decode_profile.hpp"
#include "models/whisper/whisper_weights.hpp"

#include <memory>
#include <vector>

namespace earshot::models::whisper {

class StagedWork;

// How the cross-attention K/V of a window are stored. They are the second-largest stream a
// token reads (after the logits' embedding), so F16 (the default) saves 9 MB (tiny) / 18 MB
// (base) per token at 1500 positions. Compute stays F32. Measured on the fixtures: teacher-
// forced logits max |diff| 5.9e-5 (tiny-random) / 3.5e-5 (v3-random) vs tolerance 5e-4, greedy
// tokens exact, avg_logprob |diff| <= 1.4e-6 vs 1e-4. kF32 keeps them exact (as computed).
enum class CrossKvPrecision { kF16, kF32 };

class WhisperDecoder {
 public:
  // `parallel` (optional, not owned) splits the matrix products between its threads.
  WhisperDecoder(const WhisperModel& model, rt::MemoryBudget& budget, int max_sequences = 1,
                 Parallel* parallel = nullptr, CrossKvPrecision cross_kv = CrossKvPrecision::kF16);
  ~WhisperDecoder();

  // Bytes reserved for this config (KV caches, cross K/V, activations), for plans.
  static std::size_t workspace_bytes(const WhisperConfig& config, int max_sequences,
                                     int workers = 1,
                                     CrossKvPrecision cross_kv = CrossKvPrecision::kF16);

  int max_sequences() const { return max_sequences_; }
  int max_rows() const { return model_.config.n_text_ctx; }

  // Computes the cross-attention K/V of every layer from audio features [n_audio_ctx, d]
  // (stored head by head, see decode_attention.hpp).
  // A shorter context (the encoder run on a reduced window) attends over its first
  // `n_audio_ctx` positions only; 0 means the model's full context.
  void set_audio(const float* audio_features, int n_audio_ctx = 0);
  int audio_ctx() const { return audio_ctx_; }
  CrossKvPrecision cross_kv_precision() const { return cross_kv_; }
  // Bytes per stored cross-attention K/V value (2 for F16, 4 for F32).
  int cross_kv_bytes_per_value() const { return cross_kv_ == CrossKvPrecision::kF16 ? 2 : 4; }
  // Empties every sequence's cache.
  void reset();
  int length(int seq) const { return lengths_[static_cast<std::size_t>(seq)]; }
  // Forgets the cached tokens of `seq` past `length`.
  void truncate(int seq, int length);

  // Runs `rows` tokens through the decoder: row r appends tokens[r] to sequence seqs[r] at the
  // next position of that sequence (rows of one sequence must be consecutive, in order).
  // Up to kFusedMaxRows (8) rows, e.g. one token per beam, run as one parallel region with the
  // weights streamed once (forward_step); more rows (prompts, teacher forcing) run product by
  // product over batched kernels.
  // Returns the final-LayerNorm hidden states [rows, d] (valid until the next call).
  // Throws std::length_error past n_text_ctx, std::out_of_range for a bad id or sequence.
  const float* forward(const int* seqs, const int* tokens, int rows);
  // All `n` tokens for one sequence.
  const float* forward(int seq, const int* tokens, int n);

  // out[rows, n_vocab] = hidden[rows, d] . E^T
  void logits(const float* hidden, int rows, float* out);

  // Sequence i continues from what sequence source[i] held (beam search bookkeeping).
  void rearrange(const int* source, int n);

  // Per-worker GEMM workspaces (parallel_size(parallel) of them; not owned, e.g. the encoder's
  // on the same threads, see WhisperEncoder::gemm_workspaces): with them set_audio() and
  // forward() of many rows make no heap call at any audio context. nullptr: Eigen's own
  // buffers (which take heap blocks for large products).
  void set_gemm_workspaces(GemmWorkspace* workspaces) { gemm_ = workspaces; }

  // Benchmarks: while set (not owned), forward() and logits() add their stage times to it.
  void set_profile(DecodeProfile* profile) { profile_ = profile; }

 private:
  struct Layout;
  float* self_k(int layer, int slot);
  float* self_v(int layer, int slot);
  float* cross_k(int layer, int head);
  float* cross_v(int layer, int head);
  // out[r, 0:hd] = cross-attention of head `head` for q rows [rows, ldq] (out rows ldo apart).
  void attend_cross(int layer, int head, const float* q, int rows, int ldq, float* scores,
                    float* out, int ldo);
  void embed(const int* tokens, int rows);
  const float* forward_batched(const int* seqs, int rows);
  const float* forward_step(const int* seqs, int rows);
  // One thread's walk through the step's stages (`share`: its slot of per-worker scratch).
  void step_stages(const int* seqs, int rows, int share);
  void logits_step(const float* hidden, int rows, float* out);

  const WhisperModel& model_;
  int max_sequences_;
  Parallel* parallel_;
  CrossKvPrecision cross_kv_;
  std::unique_ptr<Layout> layout_;
  std::unique_ptr<StagedWork> stages_;
  rt::Reservation workspace_;
  std::vector<int> lengths_;    // tokens cached per sequence
  std::vector<int> slot_of_;    // sequence -> cache slot
  std::vector<int> positions_;  // per row of the current call
  std::vector<int> row_seqs_;   // forward(seq, ...) scratch
  std::vector<int> new_slots_;  // rearrange scratch
  std::vector<char> claimed_;
  int audio_ctx_ = 0;  // positions of the current audio window; 0 until set_audio()
  DecodeProfile* profile_ = nullptr;
  GemmWorkspace* gemm_ = nullptr;
};

}  // namespace earshot::models::whisper
