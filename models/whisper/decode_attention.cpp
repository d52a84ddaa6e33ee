// GCC 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 packet code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/decode_attention.hpp"

#include "models/core/half.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace earshot::models::whisper {
namespace {

// s[0:n] = exp(s - max) / sum, in place; returns nothing (the row is normalised).
void softmax_inplace(float* s, int n) {
  Eigen::Map<Eigen::ArrayXf> row(s, n);
  const float m = row.maxCoeff();
  row = (row - m).exp();
  row *= 1.0f / row.sum();
}

int panels_of(int n_key) {
  return (n_key + kCrossKeyPanel - 1) / kCrossKeyPanel;
}

inline float value_at(const float* p, std::size_t i) {
  return p[i];
}
inline float value_at(const std::uint16_t* p, std::size_t i) {
  return f16_to_f32(p[i]);
}
#ifdef __AVX512F__
inline __m512 load16(const float* p) {
  return _mm512_loadu_ps(p);
}
inline __m512 load16(const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
#endif

// dst[0:n] = src rounded to F16 (round to nearest even, as f32_to_f16).
void to_f16(const float* src, std::size_t n, std::uint16_t* dst) {
  std::size_t i = 0;
#ifdef __F16C__
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

// Scores of NQ queries against the packed K: s[t * stride + key] = scale * q[t] . k[key].
// Each panel of 16 keys is head_dim broadcast-FMAs; NP panels at once keep the FMA chains
// independent (the loop is otherwise bound by the FMA latency, not the memory).
template <int NQ, int NP, typename T>
void packed_scores(const float* q, int ldq, const T* kp, int n_key, int head_dim, float scale,
                   float* s, std::size_t stride) {
  const int panels = panels_of(n_key);
  const std::size_t panel_floats = static_cast<std::size_t>(head_dim) * kCrossKeyPanel;
  int p = 0;
#ifdef __AVX512F__
  const __m512 vscale = _mm512_set1_ps(scale);
  for (; p + NP <= panels; p += NP) {
    const T* k0 = kp + static_cast<std::size_t>(p) * panel_floats;
    __m512 acc[NQ][NP];
    for (int t = 0; t < NQ; ++t)
      for (int b = 0; b < NP; ++b) acc[t][b] = _mm512_setzero_ps();
    for (int c = 0; c < head_dim; ++c) {
      __m512 kv[NP];
      for (int b = 0; b < NP; ++b)
        kv[b] = load16(k0 + b * panel_floats + static_cast<std::size_t>(c) * kCrossKeyPanel);
      for (int t = 0; t < NQ; ++t) {
        const __m512 qv = _mm512_set1_ps(q[static_cast<std::size_t>(t) * ldq + c]);
        for (int b = 0; b < NP; ++b) acc[t][b] = _mm512_fmadd_ps(qv, kv[b], acc[t][b]);
      }
    }
    for (int t = 0; t < NQ; ++t)
      for (int b = 0; b < NP; ++b)
        _mm512_storeu_ps(s + t * stride + static_cast<std::size_t>(p + b) * kCrossKeyPanel,
                         _mm512_mul_ps(acc[t][b], vscale));
  }
#endif
  for (; p < panels; ++p) {
    const T* k0 = kp + static_cast<std::size_t>(p) * panel_floats;
    for (int t = 0; t < NQ; ++t) {
      float acc[kCrossKeyPanel] = {};
      for (int c = 0; c < head_dim; ++c) {
        const float qc = q[static_cast<std::size_t>(t) * ldq + c];
        for (int l = 0; l < kCrossKeyPanel; ++l)
          acc[l] += qc * value_at(k0, static_cast<std::size_t>(c) * kCrossKeyPanel + l);
      }
      for (int l = 0; l < kCrossKeyPanel; ++l)
        s[t * stride + static_cast<std::size_t>(p) * kCrossKeyPanel + l] = acc[l] * scale;
    }
  }
}

// out[t] = sum_j s[t, j] v[j] for NQ queries, reading each V row once.
template <int NQ, typename T>
void weighted_values(const float* s, std::size_t stride, const T* v, int n_key, int head_dim,
                     float* out, int ldo) {
#ifdef __AVX512F__
  if (head_dim == 64 || head_dim == 16 || head_dim == 32) {
    const int vecs = head_dim / 16;
    __m512 acc[NQ][4];
    for (int t = 0; t < NQ; ++t)
      for (int c = 0; c < 4; ++c) acc[t][c] = _mm512_setzero_ps();
    auto step = [&](auto vecs_const) {
      constexpr int V = decltype(vecs_const)::value;
      for (int j = 0; j < n_key; ++j) {
        const T* vj = v + static_cast<std::size_t>(j) * head_dim;
        __m512 vv[V];
        for (int c = 0; c < V; ++c) vv[c] = load16(vj + 16 * c);
        for (int t = 0; t < NQ; ++t) {
          const __m512 p = _mm512_set1_ps(s[t * stride + static_cast<std::size_t>(j)]);
          for (int c = 0; c < V; ++c) acc[t][c] = _mm512_fmadd_ps(p, vv[c], acc[t][c]);
        }
      }
    };
    if (vecs == 4)
      step(std::integral_constant<int, 4>{});
    else if (vecs == 2)
      step(std::integral_constant<int, 2>{});
    else
      step(std::integral_constant<int, 1>{});
    for (int t = 0; t < NQ; ++t)
      for (int c = 0; c < vecs; ++c)
        _mm512_storeu_ps(out + static_cast<std::size_t>(t) * ldo + 16 * c, acc[t][c]);
    return;
  }
#endif
  for (int t = 0; t < NQ; ++t) {
    float* o = out + static_cast<std::size_t>(t) * ldo;
    std::fill(o, o + head_dim, 0.0f);
    for (int j = 0; j < n_key; ++j) {
      const float p = s[t * stride + static_cast<std::size_t>(j)];
      const T* vj = v + static_cast<std::size_t>(j) * head_dim;
      for (int c = 0; c < head_dim; ++c) o[c] += p * value_at(vj, static_cast<std::size_t>(c));
    }
  }
}

template <int NQ, typename T>
void attend_group(const float* q, int ldq, const T* kp, const T* v, int n_key, int head_dim,
                  float scale, float* s, float* out, int ldo) {
  const std::size_t stride = static_cast<std::size_t>(panels_of(n_key)) * kCrossKeyPanel;
  packed_scores<NQ, (NQ == 1 ? 4 : NQ == 2 ? 2 : 1)>(q, ldq, kp, n_key, head_dim, scale, s, stride);
  for (int t = 0; t < NQ; ++t) softmax_inplace(s + t * stride, n_key);
  weighted_values<NQ>(s, stride, v, n_key, head_dim, out, ldo);
}

template <typename T>
void attend_any(const float* q, int n_query, int ldq, const T* k_packed, const T* v_head, int n_key,
                int head_dim, float scale, float* scores, float* out, int ldo) {
  const std::size_t qs = static_cast<std::size_t>(ldq), os = static_cast<std::size_t>(ldo);
  int t = 0;
  for (; t + 4 <= n_query; t += 4)
    attend_group<4>(q + t * qs, ldq, k_packed, v_head, n_key, head_dim, scale, scores, out + t * os,
                    ldo);
  for (; t + 2 <= n_query; t += 2)
    attend_group<2>(q + t * qs, ldq, k_packed, v_head, n_key, head_dim, scale, scores, out + t * os,
                    ldo);
  for (; t < n_query; ++t)
    attend_group<1>(q + t * qs, ldq, k_packed, v_head, n_key, head_dim, scale, scores, out + t * os,
                    ldo);
}

}  // namespace

void pack_head_keys(const float* k, int n_key, int ld, int head, int head_dim, float* packed) {
  const int panels = panels_of(n_key);
  const float* base = k + static_cast<std::size_t>(head) * head_dim;
  for (int p = 0; p < panels; ++p) {
    float* dst = packed + static_cast<std::size_t>(p) * head_dim * kCrossKeyPanel;
    for (int l = 0; l < kCrossKeyPanel; ++l) {
      const int key = p * kCrossKeyPanel + l;
      const float* src = base + static_cast<std::size_t>(key) * ld;
      for (int c = 0; c < head_dim; ++c)
        dst[static_cast<std::size_t>(c) * kCrossKeyPanel + l] = key < n_key ? src[c] : 0.0f;
    }
  }
}

void copy_head_values(const float* v, int n_key, int ld, int head, int head_dim, float* out) {
  const float* base = v + static_cast<std::size_t>(head) * head_dim;
  for (int j = 0; j < n_key; ++j)
    std::memcpy(out + static_cast<std::size_t>(j) * head_dim,
                base + static_cast<std::size_t>(j) * ld,
                sizeof(float) * static_cast<std::size_t>(head_dim));
}

void attend_packed_head(const float* q, int n_query, int ldq, const float* k_packed,
                        const float* v_head, int n_key, int head_dim, float scale, float* scores,
                        float* out, int ldo) {
  attend_any(q, n_query, ldq, k_packed, v_head, n_key, head_dim, scale, scores, out, ldo);
}

void attend_packed_head(const float* q, int n_query, int ldq, const std::uint16_t* k_packed,
                        const std::uint16_t* v_head, int n_key, int head_dim, float scale,
                        float* scores, float* out, int ldo) {
  attend_any(q, n_query, ldq, k_packed, v_head, n_key, head_dim, scale, scores, out, ldo);
}

void pack_head_keys(const float* k, int n_key, int ld, int head, int head_dim,
                    std::uint16_t* packed) {
  // Panel by panel through a small F32 staging panel, converted in one vector pass.
  constexpr int kMaxHeadDim = 256;
  float panel[kMaxHeadDim * kCrossKeyPanel];
  const std::size_t panel_floats = static_cast<std::size_t>(head_dim) * kCrossKeyPanel;
  if (head_dim > kMaxHeadDim) {
    for (int p = 0; p < panels_of(n_key); ++p)
      for (int l = 0; l < kCrossKeyPanel; ++l)
        for (int c = 0; c < head_dim; ++c) {
          const int key = p * kCrossKeyPanel + l;
          packed[p * panel_floats + static_cast<std::size_t>(c) * kCrossKeyPanel + l] = f32_to_f16(
              key < n_key ? k[static_cast<std::size_t>(key) * ld + head * head_dim + c] : 0.0f);
        }
    return;
  }
  for (int p = 0; p < panels_of(n_key); ++p) {
    // The F32 packer on a one-panel window of the keys.
    const int first = p * kCrossKeyPanel;
    pack_head_keys(k + static_cast<std::size_t>(first) * ld,
                   std::min(kCrossKeyPanel, n_key - first), ld, head, head_dim, panel);
    to_f16(panel, panel_floats, packed + static_cast<std::size_t>(p) * panel_floats);
  }
}

void copy_head_values(const float* v, int n_key, int ld, int head, int head_dim,
                      std::uint16_t* out) {
  const float* base = v + static_cast<std::size_t>(head) * head_dim;
  for (int j = 0; j < n_key; ++j)
    to_f16(base + static_cast<std::size_t>(j) * ld, static_cast<std::size_t>(head_dim),
           out + static_cast<std::size_t>(j) * head_dim);
}

void attend_strided_head(const float* q, const float* k, const float* v, int ld, int n_key,
                         int head_dim, float scale, float* scores, float* out) {
  for (int j = 0; j < n_key; ++j) {
    const float* kj = k + static_cast<std::size_t>(j) * ld;
    int c = 0;
    float dot = 0.0f;
#ifdef __AVX512F__
    __m512 acc = _mm512_setzero_ps();
    for (; c + 16 <= head_dim; c += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + c), _mm512_loadu_ps(kj + c), acc);
    dot = _mm512_reduce_add_ps(acc);
#endif
    for (; c < head_dim; ++c) dot += q[c] * kj[c];
    scores[j] = dot * scale;
  }
  softmax_inplace(scores, n_key);
  std::fill(out, out + head_dim, 0.0f);
  for (int j = 0; j < n_key; ++j) {
    const float p = scores[j];
    const float* vj = v + static_cast<std::size_t>(j) * ld;
    for (int c = 0; c < head_dim; ++c) out[c] += p * vj[c];
  }
}

}  // namespace earshot::models::whisper
