// Beam search as openai/whisper's BeamSearchDecoder (one audio, beam_size beams, patience).
//
// Each step every beam proposes its beam_size + 1 most likely next tokens; the candidates
// (identical sequences merged) are ranked by cumulative log-probability; the best beam_size that
// do not end in <|endoftext|> continue, finished ones are kept until round(beam_size * patience)
// have been collected.
#pragma once

#include <span>
#include <vector>

namespace earshot::models::whisper {

class BeamSearch {
 public:
  BeamSearch(int beam_size, float patience, int eot);

  void reset() { finished_.clear(); }

  // tokens[k]: beam k's sequence; logprobs: [beam_size, n_vocab] log_softmax of filtered logits;
  // sum_logprobs: per beam, updated. Writes each new beam's source beam into `source` and
  // replaces `tokens`. Returns true when enough sequences have finished.
  bool update(std::vector<std::vector<int>>& tokens, std::span<const float> logprobs, int n_vocab,
              std::vector<float>& sum_logprobs, std::vector<int>& source);

  struct Finished {
    std::vector<int> tokens;  // whole sequence, ending in eot
    float sum_logprob = 0.0f;
  };
  // The finished sequences, topped up with the best unfinished beams (+ eot) when fewer than
  // beam_size finished.
  std::vector<Finished> finalize(const std::vector<std::vector<int>>& tokens,
                                 const std::vector<float>& sum_logprobs) const;

 private:
  int beam_size_;
  int max_candidates_;
  int eot_;
  std::vector<Finished> finished_;  // insertion order, unique sequences
};

}  // namespace earshot::models::whisper
