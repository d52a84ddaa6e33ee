// Decoding a chunked model's codes (facebook/encodec_48khz: 1 s chunks, stride 0.99 s) one chunk
// at a time, handing out the overlap-added audio as soon as it is final.
//
// The reference (transformers' _linear_overlap_add) weights every chunk with the same triangle
// (from the first chunk's length), adds them at offsets k * stride and divides by the summed
// weights. A chunk only overlaps its neighbours (stride > chunk / 2), so once chunk k + 1 has been
// added, the samples before its offset are final. Holding one chunk of pending sums instead of
// every chunk keeps memory flat in the input's length; the additions happen in the same order as
// the whole-input overlap-add, so the audio is bitwise what EncodecModel::decode returns (which
// runs through this function).
#pragma once

#include "models/encodec/encodec_model.hpp"

#include <cstdint>
#include <functional>

namespace earshot::encodec {

// Calls `sink(audio, samples)` with consecutive pieces of the decoded audio ([samples,
// channels] interleaved), trimmed to encoded.audio_length when that is set. Codes must have
// been validated. Allocates per chunk (one chunk's activations); not for an audio thread.
void decode_chunks(const EncodecModel& model, const EncodedAudio& encoded,
                   const std::function<void(const float*, std::int64_t)>& sink,
                   rt::Parallel* parallel = nullptr);

}  // namespace earshot::encodec
