// Saving and loading EnCodec codes: .npy, .npz and .ecdc (chosen by the file extension).
//
// .npy  int32 [n_q, frames]: one chunk (the 24 kHz model). No length or scale is stored, so
//       decoding yields frames * 320 samples.
// .npz  (np.savez layout, stored) with
//         codes                  int32 [chunks, n_q, frames]  (the last chunk padded with 0)
//         scales                 float32 [chunks]             (1 where the model does not
//         normalize) last_frame_pad_length  int32 [1]                    (padded frames of the last
//         chunk) audio_length           int64 [1]                    (samples per channel; optional
//         on read)
//       i.e. transformers' EncodecModel.encode outputs (audio_codes[:, 0], audio_scales).
// .ecdc the container of the reference `encodec` tool (facebookresearch/encodec, compress.py and
//       binary.py) written without its entropy-coding language model ("lm": false):
//         bytes 0-3   magic "ECDC"
//         byte  4     version, 0
//         bytes 5-8   uint32 big-endian: length N of the JSON metadata
//         N bytes     UTF-8 JSON {"m": "encodec_24khz"|"encodec_48khz", "al": audio length in
//                     samples per channel, "nc": codebooks per frame, "lm": false}
//         then per chunk (offsets range(0, al, stride), each min(chunk, al - offset) samples;
//         one chunk of al samples for the 24 kHz model):
//           float32 big-endian scale, only for models that normalize (48 kHz);
//           ceil(chunk_samples * frame_rate / sample_rate) frames, each nc codes of
//           log2(codebook_size) = 10 bits, packed least-significant bit first into bytes
//           (the reference's BitPacker), the chunk's last byte padded with zero bits.
//       Files with "lm": true (entropy-coded) are refused: they need the language model.
#pragma once

#include "models/encodec/encodec_model.hpp"
#include "models/encodec/npy_format.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace earshot::encodec {

enum class CodesFormat { kNpy, kNpz, kEcdc };

// From the extension; throws CodeFileError for anything else.
CodesFormat codes_format_for(const std::string& path);

std::vector<std::byte> encode_codes(const EncodedAudio& encoded, const EncodecConfig& config,
                                    CodesFormat format);
// Parses and checks against the model: codebook count valid for a bandwidth, codes in range,
// chunk layout consistent with the model. Throws CodeFileError naming `label`.
EncodedAudio decode_codes(std::span<const std::byte> bytes, const EncodecConfig& config,
                          CodesFormat format, const std::string& label);

void save_codes(const std::string& path, const EncodedAudio& encoded, const EncodecConfig& config);
EncodedAudio load_codes(const std::string& path, const EncodecConfig& config);

}  // namespace earshot::encodec
