// Whole-song separation: demucs' apply_model(shifts=0, split=True) as a stream of chunks.
//
// The reference cuts the song into segments of `segment` samples every
// stride = int((1 - overlap) * segment) samples. A chunk shorter than the segment (at the end)
// is padded to the segment with real context taken symmetrically from the song (TensorChunk.
// padded: delta//2 samples before, zeros past either end), and its output is centre-trimmed
// back. Every chunk output is weighted by a triangle (1..segment//2, then down to 1, divided
// by its peak in float32), accumulated in offset order, and the sum is divided by the summed
// weights. Output sample n is final once the chunk starting after n is reached, so this class
// keeps one segment of input and one of output and emits stems as it goes: memory is bounded
// by the segment, not the song.
//
// A bag of models (htdemucs_ft) runs every model on every chunk; each model's separated
// output is weighted per source and the weighted sum divided by the per-source total, exactly
// demucs' BagOfModels. With htdemucs_ft's one-hot weights each model contributes only its own
// source.
//
// Driving it: while (!done()) { push(frames_wanted() input frames); process(); read the
// final frames with output(); }. Nothing allocates after construction, so a worker thread can
// drive it with preallocated buffers.
#pragma once

#include "models/htdemucs/htdemucs.hpp"
#include "rt/memory_budget.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace earshot::htdemucs {

// One model or a bag of them, with the per-model, per-source weights.
struct ModelBag {
  std::vector<std::unique_ptr<HTDemucs>> models;
  std::vector<std::vector<float>> weights;  // [model][source]
  bool is_bag = false;  // a BagOfModels (weighted, normalised sum) rather than one model

  // DIR/config.json + DIR/model.safetensors, or a bag: DIR/config.json holding
  // {"bag": {"models": ["<subdir>", ...], "weights": [[...], ...]}} with each subdir a model
  // directory. All members must agree on sources, sample rate, channels and segment.
  // parallel: the thread team every member's forward() splits its work across (nullptr: the
  // calling thread alone); it must outlive the bag.
  static ModelBag load(const std::string& dir, rt::MemoryBudget& budget,
                       rt::Parallel* parallel = nullptr);

  const HTDemucsConfig& config() const { return models.front()->config(); }
  int num_sources() const { return models.front()->num_sources(); }
  int audio_channels() const { return models.front()->audio_channels(); }
  int samplerate() const { return config().samplerate; }
  std::int64_t segment_length() const { return models.front()->segment_length(); }
};

struct SeparatorOptions {
  std::int64_t segment = 0;  // samples per chunk; 0: the model's training length
  double overlap = 0.25;
};

class ChunkedSeparator {
 public:
  // total_frames: the song's length in frames, or kUnknownLength when the input is a stream
  // whose end is only known when finish() is called (e.g. a file being resampled). The last
  // chunks' padding depends on the length, as in the reference, so they wait for finish().
  static constexpr std::int64_t kUnknownLength = -1;
  ChunkedSeparator(ModelBag& bag, std::int64_t total_frames, SeparatorOptions options,
                   rt::MemoryBudget& budget);

  int sources() const { return sources_; }
  int channels() const { return channels_; }
  std::int64_t segment() const { return segment_; }
  std::int64_t stride() const { return stride_; }
  std::int64_t total_frames() const { return total_; }  // kUnknownLength until finish()
  std::int64_t chunks() const { return chunks_; }       // -1 until the length is known
  std::int64_t chunks_done() const { return next_chunk_; }
  bool done() const { return total_ >= 0 && next_chunk_ >= chunks_; }

  // Input frames the next chunk still needs before process() can run (0: ready, or done).
  std::int64_t frames_wanted() const;
  bool ready() const { return !done() && frames_wanted() == 0; }
  // Appends interleaved frames ([frames][channels]); at most frames_wanted().
  void push(const float* interleaved, std::int64_t frames);
  // Ends a stream of unknown length: the frames pushed so far are the whole song.
  void finish();
  // Separates the next chunk. Returns how many output frames became final; they are readable
  // with output() until the next process().
  std::int64_t process();
  // Final frames of source s, channel c (planar), from the last process().
  const float* output(int s, int c) const;
  std::int64_t output_frames() const { return out_count_; }
  std::int64_t output_start() const { return out_start_; }

 private:
  struct ChunkPlan {
    std::int64_t offset, length, start;  // start: first input frame of the padded segment
  };
  ChunkPlan plan(std::int64_t k) const;

  ModelBag& bag_;
  int sources_, channels_;
  std::int64_t total_, segment_, stride_, chunks_;
  std::int64_t next_chunk_ = 0;
  std::int64_t in_base_ = 0;   // absolute frame of in_[.][0]
  std::int64_t in_count_ = 0;  // frames held
  std::int64_t out_start_ = 0, out_count_ = 0;
  rt::Reservation in_;  // [channels][in_capacity_]
  std::int64_t in_capacity_ = 0;
  rt::Reservation chunk_in_;   // [channels][segment]
  rt::Reservation chunk_out_;  // [sources][channels][segment]
  rt::Reservation weight_;     // [segment]
  rt::Reservation acc_;        // [models][sources][channels][segment + stride]
  rt::Reservation acc_w_;      // [segment + stride]
  rt::Reservation final_;      // [sources][channels][stride]
};

}  // namespace earshot::htdemucs
