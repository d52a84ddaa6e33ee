// EnCodec: SEANet encoder, residual vector quantizer, SEANet decoder, and the reference's
// chunking (48 kHz: 1 s chunks with 1% overlap, per-chunk loudness normalisation, triangular
// overlap-add), loaded from a Hugging Face facebook/encodec_* directory.
#pragma once

#include "models/encodec/encodec_config.hpp"
#include "models/encodec/rvq.hpp"
#include "models/encodec/seanet.hpp"
#include "rt/memory_budget.hpp"
#include "rt/thread_team.hpp"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace earshot::encodec {

// Codes of one chunk: [n_q, frames] (row q = stage q), and the chunk's loudness scale.
struct CodeChunk {
  std::int64_t frames = 0;
  std::vector<std::int32_t> codes;
  float scale = 1.0f;  // meaningful only when the model normalizes
};

struct EncodedAudio {
  int n_q = 0;
  std::int64_t audio_length = 0;  // samples per channel of the encoded input
  std::vector<CodeChunk> chunks;
};

class EncodecModel {
 public:
  // Loads <dir>/config.json and <dir>/model.safetensors; weights are reserved from `budget`.
  // Throws ConfigError / WeightFileError / BudgetExceeded with a message naming what is wrong.
  static EncodecModel load(const std::filesystem::path& dir, rt::MemoryBudget& budget);
  static EncodecModel load(const EncodecConfig& config, const models::SafetensorsFile& weights,
                           rt::MemoryBudget& budget);

  const EncodecConfig& config() const { return config_; }
  const SeanetEncoder& encoder() const { return encoder_; }
  const SeanetDecoder& decoder() const { return decoder_; }
  const ResidualVectorQuantizer& quantizer() const { return quantizer_; }

  // Opt-in reduced precision for decoding (SeanetDecoder::store_streamed_weights_f16): the
  // decoder's weight-streaming layers keep IEEE half weights (float compute), halving what a
  // one-frame streaming push reads. Not exact (error against the fixtures: README). Call before
  // any decoder is made; the encoder is unchanged.
  void store_decoder_weights_f16(rt::MemoryBudget& budget);

  // Chunk offsets over an input of `length` samples: range(0, length, stride), each chunk
  // min(chunk_length, length - offset) long (the whole input when the model does not chunk).
  struct Span {
    std::int64_t offset;
    std::int64_t length;
  };
  std::vector<Span> chunk_spans(std::int64_t length) const;

  // audio [length, channels] interleaved -> codes per chunk at `n_q` quantizers.
  // Throws std::invalid_argument for non-finite samples or an empty input.
  // `parallel` (nullptr: the calling thread) splits the products; the result is bitwise the same
  // for any number of threads.
  EncodedAudio encode(const float* audio, std::int64_t length, int n_q,
                      rt::Parallel* parallel = nullptr) const;
  // One chunk: the loudness scale (1 when the model does not normalize) and the encoder output
  // [frames, hidden] of the (normalized) chunk.
  std::vector<float> encode_chunk_embeddings(const float* chunk, std::int64_t length, float* scale,
                                             rt::Parallel* parallel = nullptr) const;
  // Decodes every chunk, scales it and overlap-adds; returns [audio_length, channels]
  // (audio_length = 0: keep everything the chunks produce). Validates codes first. Causal codes
  // (one chunk) go through the StreamingDecoder in blocks: activations do not grow with length.
  std::vector<float> decode(const EncodedAudio& encoded, rt::Parallel* parallel = nullptr) const;
  // One chunk's audio [frames * hop, channels], scaled.
  std::vector<float> decode_chunk(const CodeChunk& chunk, int n_q,
                                  rt::Parallel* parallel = nullptr) const;

 private:
  std::vector<float> decode_streaming(const EncodedAudio& encoded, rt::Parallel* parallel) const;
  void decoder_on_huge_pages();

  EncodecConfig config_;
  SeanetEncoder encoder_;
  ResidualVectorQuantizer quantizer_;
  SeanetDecoder decoder_;
};

}  // namespace earshot::encodec
