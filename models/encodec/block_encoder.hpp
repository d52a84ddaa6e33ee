// Encoding audio that arrives in blocks (a file read piece by piece, a live input), for either
// published model, with memory that does not grow with the input:
//   - causal models (encodec_24khz): the StreamingEncoder, code frames as they are determined;
//   - chunked models (encodec_48khz): the reference's 1 s chunks (stride chunk_stride, the last
//     ones shorter), each encoded as soon as its samples are in, one chunk buffer held.
// finish() returns exactly what EncodecModel::encode of the whole input returns (same chunks,
// scales, frame counts; codes equal up to the fixtures' near-tie rule, see streaming_encoder.hpp).
//
//   BlockEncoder enc(model, budget, n_q, block_samples);   // parallel: optional rt::Parallel*
//   while (read block) enc.push(block, samples);            // interleaved [samples, channels]
//   EncodedAudio codes = enc.finish();                      // then save_codes(...)
#pragma once

#include "models/encodec/encodec_model.hpp"
#include "models/encodec/streaming_encoder.hpp"
#include "rt/thread_team.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace earshot::encodec {

class BlockEncoder {
 public:
  // Throws std::invalid_argument for n_q out of range, max_samples_per_push < 1 or a model that
  // is neither causal nor chunked; BudgetExceeded if the state does not fit.
  BlockEncoder(const EncodecModel& model, rt::MemoryBudget& budget, int n_q,
               std::int64_t max_samples_per_push, rt::Parallel* parallel = nullptr);
  ~BlockEncoder();
  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;

  // audio [samples, channels] interleaved, samples <= max_samples_per_push. Returns the number
  // of code frames that became available (24 kHz: frames; 48 kHz: frames of completed chunks).
  // Throws std::invalid_argument for a non-finite sample (nothing is consumed then).
  std::int64_t push(const float* audio, std::int64_t samples);
  // Ends the input and returns all codes, as EncodecModel::encode(whole input, n_q) would.
  // Throws std::invalid_argument for an empty input.
  EncodedAudio finish();

  std::int64_t samples_in() const { return samples_in_; }

 private:
  std::int64_t encode_chunk(std::int64_t length);

  const EncodecModel& model_;
  rt::Parallel* parallel_;
  int n_q_;
  int channels_;
  std::int64_t max_samples_;
  std::int64_t samples_in_ = 0;
  EncodedAudio out_;
  // Causal path.
  std::unique_ptr<StreamingEncoder> stream_;
  std::vector<std::int32_t> frame_codes_;  // frame-major, grows by n_q per frame (tiny)
  std::vector<std::int32_t> push_codes_;   // one push's frames (sized at construction)
  // Chunked path: samples of the chunk being filled.
  models::Tensor chunk_;
  std::int64_t chunk_fill_ = 0;
};

}  // namespace earshot::encodec
