// Beam search as openai/whisper's BeamSearchDecoder (one audio, beam_size beams, patience).
//
// Each step every beam proposes its beam_size + 1 most likely next tokens; the candidates
// (identical sequences merged) are ranked by cumulative log-probability; the best beam_size that
// do not end in <|endoftext|> continue, finished ones are kept until round(beam_size * patience)
// have been collected.
//
// Every buffer (candidates, the next beams, the finished sequences, ranking scratch) is sized
// at construction for the largest beam and the longest sequence, so a search allocates nothing
// per step. Only start() may grow the finished list, when a patience above 2 asks for more
// finished sequences than any earlier search (once; never during a search).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace earshot::models::whisper {

class BeamSearch {
 public:
  // max_beam: the largest beam_size a search will use; max_len: the longest sequence
  // (initial tokens + sampled tokens + <|endoftext|>).
  BeamSearch(int max_beam, std::size_t max_len);

  // A new search: clears the finished list.
  void start(int beam_size, float patience, int eot);

  // tokens[k]: beam k's sequence (capacity >= max_len); logprobs: [beam_size, n_vocab]
  // log_softmax of the filtered logits; sum_logprobs: per beam. When beam_size unfinished
  // candidates were found (selected() == beam_size), the beams, their sums and `source` (each
  // new beam's source beam) are replaced; otherwise the inputs stay as they were and the search
  // cannot continue. Returns true when enough sequences have finished.
  bool update(std::span<std::vector<int>> tokens, std::span<const float> logprobs, int n_vocab,
              std::span<float> sum_logprobs, std::span<int> source);
  // Unfinished beams the last update() found (beam_size unless the candidates ran out).
  int selected() const { return selected_; }

  struct Finished {
    std::vector<int> tokens;  // whole sequence, ending in eot
    float sum_logprob = 0.0f;
  };
  // Tops the finished sequences up with the best unfinished beams (+ eot) when fewer than
  // beam_size finished.
  void finalize(std::span<const std::vector<int>> tokens, std::span<const float> sum_logprobs);
  // Finished sequences in insertion order (after finalize(): the reference's candidates).
  std::span<const Finished> finished() const {
    return std::span<const Finished>(finished_).first(static_cast<std::size_t>(n_finished_));
  }

 private:
  struct Candidate {
    int source;  // beam the prefix comes from
    int token;
    float score;
  };
  // Inserts `seq` + `token` as a finished sequence (or updates the same sequence's score).
  void add_finished(const std::vector<int>& seq, int token, float score);
  void reserve_finished(std::size_t slots);

  std::size_t max_len_;
  int beam_size_ = 1;
  int max_candidates_ = 1;
  int eot_ = 0;
  int selected_ = 0;
  std::vector<Candidate> candidates_;   // capacity max_beam * (max_beam + 1)
  std::vector<int> top_;                // one beam's best tokens, capacity max_beam + 1
  std::vector<int> newly_finished_;     // candidate indices, capacity as candidates_
  std::vector<std::vector<int>> next_;  // max_beam sequences of capacity max_len
  std::vector<float> next_sums_;
  std::vector<int> next_source_;
  std::vector<int> order_;          // finalize's ranking, max_beam
  std::vector<Finished> finished_;  // slots, each with capacity max_len
  int n_finished_ = 0;
};

}  // namespace earshot::models::whisper
