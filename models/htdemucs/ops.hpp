// The numeric building blocks of HTDemucs on preallocated float buffers.
//
// Activations are [C][H][W] row-major blocks (W fastest), exactly torch's layout for one batch
// item: the frequency branch uses H = frequency rows and W = STFT frames; the time branch uses
// H = 1 and W = samples. Nothing here allocates: every scratch buffer is passed in. Eigen stays
// inside ops.cpp so that including this header is cheap.
#pragma once

#include "models/core/gemm.hpp"
#include "rt/thread_team.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace earshot::htdemucs {

// A [c][h][w] activation block over borrowed memory.
struct Act {
  float* data = nullptr;
  int c = 0;
  int h = 0;
  std::int64_t w = 0;
  std::int64_t plane() const { return static_cast<std::int64_t>(h) * w; }
  std::int64_t size() const { return c * plane(); }
};

// Geometry of a 2-D convolution (a 1-D conv along W is kh = 1; along H is kw = 1).
struct ConvGeom {
  int kh = 1, kw = 1;
  int sh = 1, sw = 1;
  int ph = 0, pw = 0;
  int dh = 1, dw = 1;
};

// Scratch for im2col, shared by all convolutions of a model: `cols` holds K x block columns.
struct ConvScratch {
  float* cols = nullptr;
  std::size_t capacity = 0;  // floats
};

// The shared allocation-free GEMM (models/core/gemm.hpp), used here unqualified.
using models::gemm;
using models::GemmWorkspace;

// Floats of im2col scratch one worker needs for convolutions of reduction size (or transposed
// conv rows) up to max_k over planes up to max_n positions: one cache-sized column block.
std::int64_t conv_scratch_floats(std::int64_t max_k, std::int64_t max_n);

// The threads the kernels below may use (parallel == nullptr: the calling thread alone) and
// each worker's private scratch, reserved up front: worker w of `parallel` packs GEMM operands
// into gemm[w] and builds im2col columns in cols[w]. Kernels split their output across the
// workers so that no two write the same element (results do not depend on the worker count
// beyond float summation order inside one GEMM, which the split leaves unchanged).
struct Workers {
  rt::Parallel* parallel = nullptr;
  std::vector<ConvScratch> cols;     // one per worker
  std::vector<GemmWorkspace*> gemm;  // one per worker
  int size() const { return rt::parallel_size(parallel); }
  // fn(begin, end, worker) over [0, n) in chunks aligned to `align`, each worker with its own
  // GEMM workspace active on its thread. balance = true: chunks that shrink as the work runs
  // out, claimed by whichever worker is free; false: one equal share per worker (for products
  // that pack a large weight matrix once per call, which more chunks would repeat).
  void run(std::int64_t n, int align, rt::FunctionRef<void(std::int64_t, std::int64_t, int)> fn,
           bool balance = true);
};

// out = W * im2col(in) + b. `weight` is torch's [Cout, Cin, kh, kw] (any trailing 1s dropped),
// `out` must already have the conv's output shape. Input positions outside [0, H) x [0, W)
// read as zero, which also covers demucs' right-padding of the time branch to a multiple of
// the stride. With `gelu`, the exact GELU is applied to the outputs (block by block, while
// they are in cache).
void conv2d(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
            const Act& out, Workers& workers, bool gelu = false);

// out = GLU over channels of conv2d(in) with 2 * out.c outputs (`weight` [2C, Cin, kh, kw]):
// out[c] = z[c] * sigmoid(z[c + C]). The conv outputs only ever exist one cache-sized column
// block at a time (no 2C-channel tensor goes through memory).
void conv2d_glu(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
                const Act& out, Workers& workers);

// Transposed convolution with stride (sh, sw) and no padding, written directly into the
// cropped output: out[co][oh][ow] receives full-output position (oh + crop_h, ow + crop_w).
// `weight` is torch's [Cin, Cout, kh, kw].
void conv_transpose2d(const float* weight, const float* bias, int kh, int kw, int sh, int sw,
                      int crop_h, int crop_w, const Act& in, const Act& out, Workers& workers);

// GroupNorm. per_row = false: torch's GroupNorm(groups, C) over the whole (C/groups, H, W).
// per_row = true: every H row is its own batch item (DConv over frequency rows), so the
// statistics are over (C/groups, W) for each h.
// With `gelu`, the exact GELU follows in the same pass (GroupNorm -> GELU, as DConv does).
void group_norm(const Act& x, int groups, const float* gamma, const float* beta, float eps,
                bool per_row, Workers& workers, bool gelu = false);

void gelu_inplace(float* x, std::int64_t n);  // exact erf GELU, like F.gelu
void gelu_inplace(float* x, std::int64_t n, Workers& workers);
// out[i] = a[i] * sigmoid(gate[i]) = a[i] / (1 + exp(-gate[i])) over n floats (the GLU).
void glu_pass(const float* a, const float* gate, std::int64_t n, float* out);
// GLU over channels: out[c] = in[c] * sigmoid(in[c + C]) for c < C, with in having 2C channels.
void glu_channels(const Act& in, const Act& out, Workers& workers);
// y[c] += scale[c] * a[c] * sigmoid(gate[c]) with a = z[c], gate = z[c + C] (DConv's GLU +
// LayerScale + residual), over y's channels. The model runs the fused dconv_layer
// (dconv.hpp); this unfused form is its test reference.
void glu_scaled_add(const Act& z, const float* scale, const Act& y, Workers& workers);
// LayerNorm over the last dim of [n, d] rows, in place or into y.
void layer_norm_rows(const float* x, std::int64_t n, int d, const float* gamma, const float* beta,
                     float eps, float* y);
void layer_norm_rows(const float* x, std::int64_t n, int d, const float* gamma, const float* beta,
                     float eps, float* y, Workers& workers);

}  // namespace earshot::htdemucs
