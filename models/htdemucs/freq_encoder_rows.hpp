// One frequency-branch encoder level without GroupNorms, fused row by row:
//
//   conv (kernel kh along frequency, stride sh) -> GELU -> DConv layers -> 1x1 rewrite -> GLU
//
// Every step is local to one output frequency row: the conv reads kh input rows, the DConv
// treats each frequency row as its own batch item (its GroupNorms are per row), and the
// rewrite is pointwise. So each output row is computed from its input rows, taken through every
// DConv layer and the rewrite while it sits in the worker's cache, and only the level's output
// row is written. Unfused, the outermost level's 48 x 512 x 336 activation (33 MB, the size of
// the L3) went through memory five times between the steps.
//
// The arithmetic of the DConv and the rewrite is exactly that of dconv_layers and
// pointwise_glu; the conv sums each output over (input channel, tap) in order from the bias.
#pragma once

#include "models/htdemucs/ops.hpp"
#include "models/htdemucs/weights.hpp"

#include <cstdint>

namespace earshot::htdemucs {

struct FreqRowsGeom {
  int kh = 8, sh = 4, ph = 2;  // the encoder conv along frequency
};

// Whether the fused path can run this level: no norms, a 1x1 rewrite, rows short enough for
// the row-wise DConv, and an input reduction (cin x kh) small enough for the direct conv.
bool freq_rows_supported(const EncoderW& w, const FreqRowsGeom& g, const Act& in, const Act& out);

// Floats of per-worker scratch (Workers::cols) and doubles of shared scratch the fused level
// needs for `channels` output channels, DConv hidden width `hidden` and `layers` layers over
// rows of `w` positions, with `workers` workers.
std::int64_t freq_rows_worker_floats(int channels, int hidden, std::int64_t w);
std::int64_t freq_rows_shared_doubles(int hidden, int layers, int workers);

// in: [cin][H_in][W], out: [cout][H_out][W]; `shared`: freq_rows_shared_doubles(...) doubles.
void encode_freq_rows(const EncoderW& w, const FreqRowsGeom& g, const Act& in, const Act& out,
                      double* shared, Workers& workers);

}  // namespace earshot::htdemucs
