// The matrix-product and attention kernels against plain double-precision references, on shapes
// that reach every code path: 1..9 input rows (the fused F16 few-row kernels with 4, 2 and 1
// tokens, then the panel GEMM), column counts that are and are not multiples of 16 (the vector
// body and the scalar tail), weight-row counts that are not multiples of 4, one and two
// threads, and attention with more queries than one block (128) with and without a causal mask.
// The fixture tests only see the dimensions of two small models; these see the edges.
#include "models/core/half.hpp"
#include "models/whisper/linear.hpp"
#include "models/whisper/transformer_ops.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {
using namespace earshot::models::whisper;
namespace rt = earshot::rt;

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A weight matrix holding `values` ([rows, cols]), rounded to F16 when asked.
WeightMatrix make_weight(rt::MemoryBudget& budget, WeightType type, int rows, int cols,
                         std::vector<float>& values) {
  WeightMatrix w;
  w.type = type;
  w.rows = rows;
  w.cols = cols;
  w.storage = budget.reserve("test weight", WeightMatrix::bytes_for(type, rows, cols));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (type == WeightType::F16) {
      w.mutable_f16()[i] = earshot::models::f32_to_f16(values[i]);
      values[i] = earshot::models::f16_to_f32(w.mutable_f16()[i]);  // the reference sees F16
    } else {
      w.mutable_f32()[i] = values[i];
    }
  }
  return w;
}

struct LinearCase {
  WeightType type;
  int n, rows, cols;
};

TEST(WhisperKernelLinear, MatchesDoubleReferenceOnEveryPath) {
  rt::MemoryBudget budget(64u << 20);
  ThreadTeam team(2);
  const std::vector<LinearCase> cases = {
      {WeightType::F16, 1, 37, 384}, {WeightType::F16, 1, 9, 70},   {WeightType::F16, 2, 13, 48},
      {WeightType::F16, 3, 41, 200}, {WeightType::F16, 4, 64, 384}, {WeightType::F16, 5, 7, 17},
      {WeightType::F16, 7, 33, 512}, {WeightType::F16, 9, 150, 96}, {WeightType::F16, 40, 300, 70},
      {WeightType::F32, 1, 37, 70},  {WeightType::F32, 6, 33, 384}, {WeightType::F32, 40, 129, 48},
  };
  for (const LinearCase& tc : cases) {
    std::vector<float> wv = random_values(static_cast<std::size_t>(tc.rows) * tc.cols, 1,
                                          1.0f / std::sqrt(static_cast<float>(tc.cols)));
    const WeightMatrix w = make_weight(budget, tc.type, tc.rows, tc.cols, wv);
    const std::vector<float> x = random_values(static_cast<std::size_t>(tc.n) * tc.cols, 2);
    const std::vector<float> bias = random_values(static_cast<std::size_t>(tc.rows), 3);
    std::vector<float> scratch(2 * linear_scratch_floats(tc.cols));
    for (Parallel* p : {static_cast<Parallel*>(nullptr), static_cast<Parallel*>(&team)}) {
      for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
        std::vector<float> y(static_cast<std::size_t>(tc.n) * tc.rows, NAN);
        linear(x.data(), tc.n, w, b, y.data(), scratch.data(), p);
        double worst = 0.0;
        for (int t = 0; t < tc.n; ++t)
          for (int j = 0; j < tc.rows; ++j) {
            double ref = b ? b[j] : 0.0;
            for (int c = 0; c < tc.cols; ++c)
              ref += static_cast<double>(x[static_cast<std::size_t>(t) * tc.cols + c]) *
                     wv[static_cast<std::size_t>(j) * tc.cols + c];
            worst = std::max(worst, std::abs(ref - y[static_cast<std::size_t>(t) * tc.rows + j]));
          }
        EXPECT_LT(worst, 2e-5) << "n " << tc.n << " rows " << tc.rows << " cols " << tc.cols
                               << (tc.type == WeightType::F16 ? " F16" : " F32")
                               << (p ? " 2 threads" : " 1 thread") << (b ? " bias" : "");
      }
    }
  }
}

// Softmax(Q K^T / sqrt(dh)) V per head, in double.
std::vector<double> reference_attention(const std::vector<float>& q, int n_query,
                                        const std::vector<float>& k, const std::vector<float>& v,
                                        int n_key, int heads, int dh, int causal_offset) {
  const int ld = heads * dh;
  std::vector<double> out(static_cast<std::size_t>(n_query) * ld);
  std::vector<double> s(static_cast<std::size_t>(n_key));
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < n_query; ++i) {
      const int visible = causal_offset < 0 ? n_key : std::min(n_key, causal_offset + i + 1);
      double m = -1e300, sum = 0.0;
      for (int j = 0; j < visible; ++j) {
        double dot = 0.0;
        for (int c = 0; c < dh; ++c)
          dot += static_cast<double>(q[static_cast<std::size_t>(i) * ld + h * dh + c]) *
                 k[static_cast<std::size_t>(j) * ld + h * dh + c];
        s[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(dh));
        m = std::max(m, s[static_cast<std::size_t>(j)]);
      }
      for (int j = 0; j < visible; ++j) {
        s[static_cast<std::size_t>(j)] = std::exp(s[static_cast<std::size_t>(j)] - m);
        sum += s[static_cast<std::size_t>(j)];
      }
      for (int c = 0; c < dh; ++c) {
        double acc = 0.0;
        for (int j = 0; j < visible; ++j)
          acc += s[static_cast<std::size_t>(j)] * v[static_cast<std::size_t>(j) * ld + h * dh + c];
        out[static_cast<std::size_t>(i) * ld + h * dh + c] = acc / sum;
      }
    }
  return out;
}

TEST(WhisperKernelAttention, BlockedSoftmaxMatchesDoubleReference) {
  ThreadTeam team(2);
  struct Case {
    int n_query, n_key, causal_offset;
  };
  const int heads = 3, dh = 16, ld = heads * dh;
  for (const Case& tc : {Case{300, 300, -1}, Case{1, 257, -1}, Case{130, 140, 10},
                         Case{300, 310, 10}, Case{1, 65, 64}}) {
    const auto q = random_values(static_cast<std::size_t>(tc.n_query) * ld, 4, 2.0f);
    const auto k = random_values(static_cast<std::size_t>(tc.n_key) * ld, 5, 2.0f);
    const auto v = random_values(static_cast<std::size_t>(tc.n_key) * ld, 6);
    const auto ref =
        reference_attention(q, tc.n_query, k, v, tc.n_key, heads, dh, tc.causal_offset);
    for (Parallel* p : {static_cast<Parallel*>(nullptr), static_cast<Parallel*>(&team)}) {
      std::vector<float> scores(2u * tc.n_query * tc.n_key);
      std::vector<float> out(static_cast<std::size_t>(tc.n_query) * ld, NAN);
      multi_head_attention(q.data(), tc.n_query, k.data(), v.data(), tc.n_key, ld, heads, dh,
                           tc.causal_offset, scores.data(), out.data(), p);
      double worst = 0.0;
      for (std::size_t i = 0; i < out.size(); ++i)
        worst = std::max(worst, std::abs(ref[i] - out[i]));
      EXPECT_LT(worst, 1e-5) << tc.n_query << " queries, " << tc.n_key << " keys, causal offset "
                             << tc.causal_offset << (p ? ", 2 threads" : ", 1 thread");
    }
  }
}

}  // namespace
