// One DConv residual layer, fused:
//   y += scale * GLU(GN2(conv2(GELU(GN1(conv1(y))))))
// conv1: dilated kernel-3 conv C -> hidden, conv2: 1x1 hidden -> 2C, GroupNorm(1) per row
// (every frequency row is its own batch item; the time branch is one row).
//
// Why fused: at the outer levels (C = 48, hidden = 6, 170k positions) the unfused layer was a
// chain of full passes over 33-66 MB tensors (the 2C-channel conv2 output alone is larger than
// the L3), running at 13 GFLOP/s. Here the row is cut into tiles, the hidden activations (C/8
// channels) are the only intermediate kept, and conv2's output is never stored:
//   1. conv1 per tile (direct kernel), per-tile sums of h and h^2;
//   2. GN1 + GELU in place, per-tile first and second moments of the result (sum h, sum h h^T);
//   3. GN2's statistics follow exactly from those moments (z = W2 h + b2 is linear in h), so
//      GN2 folds into conv2's weights, and one pass computes conv2 -> GLU -> LayerScale -> +y.
// Per-tile partial sums are reduced in tile order on the calling thread, so results do not
// depend on the number of workers. Rows no longer than one tile (the frequency branch: every
// frequency row is its own item) instead run every step of every layer row by row, each row on
// one worker while it is in cache; the arithmetic is the same.
#pragma once

#include "models/htdemucs/ops.hpp"
#include "models/htdemucs/weights.hpp"

#include <cstdint>
#include <span>

namespace earshot::htdemucs {

// Doubles of statistics scratch dconv_layers needs for up to `layers` layers on a
// [channels][h][w] block.
std::int64_t dconv_stats_doubles(int channels, int hidden, int h, std::int64_t w, int layers = 1);
// Floats of per-worker scratch (taken from Workers::cols) dconv_layer needs.
std::int64_t dconv_worker_floats(int channels, int hidden);

// One row of at most dconv_row_max_width() positions (row.h == 1), every layer, on the calling
// thread: the fused frequency encoder runs this on a row it has just computed, while it is in
// cache. `grams`: dconv_grams() of the same layers (computed once per forward, read-only
// here); `hid`: hidden x row.w floats; `stats`: dconv_row_stats_doubles(hidden) doubles;
// `scratch`: dconv_worker_floats(...) floats. Same arithmetic as dconv_layers on that row.
std::int64_t dconv_row_max_width();
std::int64_t dconv_grams_doubles(int hidden, int layers);
std::int64_t dconv_row_stats_doubles(int hidden);
void dconv_grams(std::span<const DConvLayerW> layers, double* grams);
void dconv_row(std::span<const DConvLayerW> layers, const Act& row, float* hid, double* stats,
               const double* grams, const ConvScratch& scratch);

// Takes the last layer's output one tile at a time instead of having it stored back into y (the
// encoder's rewrite reads it while it is in cache; y is then left holding the previous layer's
// output). tile[c * tile_plane + (p - p0)] holds channel c at positions [p0, p1) of `row`.
// consume() runs on worker `worker`, concurrently for different tiles.
class DConvTileSink {
 public:
  virtual void consume(const float* tile, std::int64_t tile_plane, int row, std::int64_t p0,
                       std::int64_t p1, int worker) = 0;

 protected:
  ~DConvTileSink() = default;
};
// Floats of worker scratch (Workers::cols) dconv_layers needs with a sink.
std::int64_t dconv_sink_floats(int channels, int hidden);

// `hid`: hidden x y.plane() floats; `stats`: dconv_stats_doubles(...) doubles.
void dconv_layer(const DConvLayerW& l, const Act& y, float* hid, double* stats, Workers& workers);
// The layers one after the other (all of one hidden width), as DConv runs them.
// With `sink` (long rows only: the time branch), the last layer's output goes to it.
void dconv_layers(std::span<const DConvLayerW> layers, const Act& y, float* hid, double* stats,
                  Workers& workers, DConvTileSink* sink = nullptr);

}  // namespace earshot::htdemucs
