#include "models/encodec/encodec_model.hpp"

#include "models/encodec/chunked_decode.hpp"
#include "models/encodec/streaming_decoder.hpp"
#include "rt/huge_pages.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace earshot::encodec {

EncodecModel EncodecModel::load(const std::filesystem::path& dir, rt::MemoryBudget& budget) {
  const auto config = load_encodec_config(dir);
  const auto weights = models::SafetensorsFile::open(dir / "model.safetensors");
  return load(config, weights, budget);
}

EncodecModel EncodecModel::load(const EncodecConfig& config, const models::SafetensorsFile& weights,
                                rt::MemoryBudget& budget) {
  WeightLoader loader(weights, budget, config.norm_type);
  EncodecModel model;
  model.config_ = config;
  model.encoder_ = SeanetEncoder::load(loader, config);
  model.quantizer_ = ResidualVectorQuantizer::load(loader, config);
  model.decoder_ = SeanetDecoder::load(loader, config);
  model.decoder_on_huge_pages();
  return model;
}

// The budget puts reservations of 2 MiB and more on huge pages; the decoder's first conv (1.8 MB)
// is smaller, so it sat on 4 KiB pages and streamed at half the speed (0.06 -> 0.16 ms per
// frame). Every 2 MiB page a decoder weight touches is collapsed into a huge page: a page that
// reaches outside the weight's mapping is refused by the kernel and stays as it is; one shared
// with other heap data keeps that data.
void EncodecModel::store_decoder_weights_f16(rt::MemoryBudget& budget) {
  decoder_.store_streamed_weights_f16(budget);
  decoder_on_huge_pages();
}

void EncodecModel::decoder_on_huge_pages() {
  auto block = [](const void* data, std::size_t bytes) {
    if (data == nullptr || bytes == 0) return;
    const auto begin = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t end = begin + bytes;
    for (std::uintptr_t p = begin / rt::kHugePageBytes * rt::kHugePageBytes; p < end;
         p += rt::kHugePageBytes) {
      rt::collapse_huge_pages(reinterpret_cast<void*>(p), rt::kHugePageBytes);
    }
  };
  auto pages = [&](models::Tensor& t) {
    if (!t.empty()) block(t.data(), t.bytes());
  };
  for (const auto& h : decoder_.lstm.w_ih_f16) block(h.storage.data(), h.storage.bytes());
  for (const auto& h : decoder_.lstm.w_hh_f16) block(h.storage.data(), h.storage.bytes());
  block(decoder_.first.weight_f16.storage.data(), decoder_.first.weight_f16.storage.bytes());
  if (!decoder_.stages.empty()) {
    const auto& up = decoder_.stages[0].up.weight_f16;
    block(up.storage.data(), up.storage.bytes());
  }
  pages(decoder_.first.weight);
  for (auto& stage : decoder_.stages) {
    pages(stage.up.weight);
    for (auto& b : stage.blocks) {
      pages(b.conv1.weight);
      pages(b.conv2.weight);
      pages(b.shortcut.weight);
    }
  }
  pages(decoder_.last.weight);
}

std::vector<EncodecModel::Span> EncodecModel::chunk_spans(std::int64_t length) const {
  std::vector<Span> spans;
  const std::int64_t chunk = config_.chunk_length();
  if (chunk <= 0) {
    spans.push_back({0, length});
    return spans;
  }
  const std::int64_t stride = config_.chunk_stride();
  for (std::int64_t offset = 0; offset < length; offset += stride) {
    spans.push_back({offset, std::min(chunk, length - offset)});
  }
  return spans;
}

std::vector<float> EncodecModel::encode_chunk_embeddings(const float* chunk, std::int64_t length,
                                                         float* scale,
                                                         rt::Parallel* parallel) const {
  const int channels = config_.audio_channels;
  if (!config_.normalize) {
    *scale = 1.0f;
    return encoder_.forward(chunk, length, parallel);
  }
  // Loudness of the channel mean; the encoder sees the chunk divided by it.
  double sum_sq = 0;
  for (std::int64_t t = 0; t < length; ++t) {
    float mono = 0;
    for (int c = 0; c < channels; ++c) mono += chunk[t * channels + c];
    mono /= static_cast<float>(channels);
    sum_sq += static_cast<double>(mono) * mono;
  }
  const float s = static_cast<float>(std::sqrt(sum_sq / static_cast<double>(length))) + 1e-8f;
  *scale = s;
  std::vector<float> normalized(chunk, chunk + length * channels);
  for (auto& v : normalized) v /= s;
  return encoder_.forward(normalized.data(), length, parallel);
}

EncodedAudio EncodecModel::encode(const float* audio, std::int64_t length, int n_q,
                                  rt::Parallel* parallel) const {
  if (length <= 0) throw std::invalid_argument("cannot encode empty audio");
  const int channels = config_.audio_channels;
  for (std::int64_t i = 0; i < length * channels; ++i) {
    if (!std::isfinite(audio[i])) {
      throw std::invalid_argument("audio sample " + std::to_string(i / channels) +
                                  " is not finite (NaN or infinity)");
    }
  }
  if (n_q < 1 || n_q > quantizer_.num_quantizers()) {
    throw std::invalid_argument("n_q must be in 1.." + std::to_string(quantizer_.num_quantizers()));
  }
  EncodedAudio out;
  out.n_q = n_q;
  out.audio_length = length;
  for (const auto& span : chunk_spans(length)) {
    CodeChunk chunk;
    const auto embeddings = encode_chunk_embeddings(audio + span.offset * channels, span.length,
                                                    &chunk.scale, parallel);
    chunk.frames = static_cast<std::int64_t>(embeddings.size()) / config_.hidden_size;
    chunk.codes.resize(static_cast<std::size_t>(n_q * chunk.frames));
    quantizer_.encode(embeddings.data(), chunk.frames, n_q, chunk.codes.data(), parallel);
    out.chunks.push_back(std::move(chunk));
  }
  return out;
}

std::vector<float> EncodecModel::decode_chunk(const CodeChunk& chunk, int n_q,
                                              rt::Parallel* parallel) const {
  if (static_cast<std::int64_t>(chunk.codes.size()) != n_q * chunk.frames) {
    throw std::invalid_argument("chunk holds " + std::to_string(chunk.codes.size()) +
                                " codes, expected " + std::to_string(n_q) + " x " +
                                std::to_string(chunk.frames));
  }
  std::vector<float> embeddings(static_cast<std::size_t>(chunk.frames * quantizer_.dim()));
  quantizer_.decode(chunk.codes.data(), n_q, chunk.frames, embeddings.data());
  auto audio = decoder_.forward(embeddings.data(), chunk.frames, parallel);
  if (config_.normalize) {
    for (auto& v : audio) v *= chunk.scale;
  }
  return audio;
}

// Causal codes: through the streaming decoder, a block of frames at a time, so the activations
// held are those of one block whatever the length (the output itself is the only thing that
// grows). Equal to the whole-clip decoder up to float rounding (streaming_decoder.hpp).
std::vector<float> EncodecModel::decode_streaming(const EncodedAudio& encoded,
                                                  rt::Parallel* parallel) const {
  constexpr std::int64_t kBlockFrames = 64;
  const auto& chunk = encoded.chunks.at(0);
  if (static_cast<std::int64_t>(chunk.codes.size()) != encoded.n_q * chunk.frames) {
    throw std::invalid_argument("chunk holds " + std::to_string(chunk.codes.size()) +
                                " codes, expected " + std::to_string(encoded.n_q) + " x " +
                                std::to_string(chunk.frames));
  }
  const int channels = config_.audio_channels;
  rt::MemoryBudget budget(std::size_t{1} << 30);  // the decoder state: a few MB
  StreamingDecoder decoder(*this, budget, encoded.n_q, kBlockFrames, parallel);
  std::vector<float> out;
  const std::int64_t total = chunk.frames * config_.hop_length();
  const std::int64_t keep =
      encoded.audio_length > 0 ? std::min(encoded.audio_length, total) : total;
  out.reserve(static_cast<std::size_t>(total * channels));
  std::vector<float> block(static_cast<std::size_t>(decoder.max_output_samples() * channels));
  std::vector<std::int32_t> frame_major(static_cast<std::size_t>(kBlockFrames * encoded.n_q));
  auto append = [&](std::int64_t samples) {
    out.insert(out.end(), block.begin(), block.begin() + samples * channels);
  };
  for (std::int64_t f0 = 0; f0 < chunk.frames; f0 += kBlockFrames) {
    const std::int64_t n = std::min(kBlockFrames, chunk.frames - f0);
    for (std::int64_t f = 0; f < n; ++f) {
      for (int q = 0; q < encoded.n_q; ++q) {
        frame_major[f * encoded.n_q + q] = chunk.codes[q * chunk.frames + f0 + f];
      }
    }
    append(decoder.push(frame_major.data(), n, block.data()));
  }
  append(decoder.finish(block.data()));
  out.resize(static_cast<std::size_t>(keep * channels));
  return out;
}

std::vector<float> EncodecModel::decode(const EncodedAudio& encoded, rt::Parallel* parallel) const {
  const int channels = config_.audio_channels;
  if (encoded.chunks.empty()) throw std::invalid_argument("no code chunks to decode");
  for (const auto& chunk : encoded.chunks) {
    quantizer_.validate(chunk.codes.data(), encoded.n_q, chunk.frames);
  }
  if (config_.use_causal_conv && encoded.chunks.size() == 1 && !config_.normalize) {
    return decode_streaming(encoded, parallel);
  }
  // Chunk by chunk with the triangular overlap-add (chunked_decode.hpp).
  std::vector<float> out;
  decode_chunks(
      *this, encoded,
      [&](const float* audio, std::int64_t samples) {
        out.insert(out.end(), audio, audio + samples * channels);
      },
      parallel);
  return out;
}

}  // namespace earshot::encodec
