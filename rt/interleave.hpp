// Interleaved <-> planar conversion, on plain buffers and straight into / out of an SpscRing.
//
// Audio APIs disagree: JACK hands one buffer per channel (planar), PortAudio and files are
// usually interleaved (L R L R ...). Rings between threads carry interleaved frames, so one ring
// serves any channel count. The ring helpers move WHOLE frames only: as long as a ring is fed
// and drained only through them (with the same channel count), its fill level is always a
// multiple of `channels` and a frame never straddles the producer/consumer boundary.
// None of these functions allocates, locks or waits: they are safe on the audio thread.
#pragma once

#include <cstddef>
#include <span>

#include "rt/ring_buffer.hpp"

namespace earshot::rt {

// out[f * C + c] = channels[c][f] for f < frames; out must hold frames * C samples.
template <typename T>
void interleave(std::span<const T* const> channels, std::size_t frames, std::span<T> out) {
  const std::size_t n_channels = channels.size();
  for (std::size_t c = 0; c < n_channels; ++c) {
    const T* src = channels[c];
    for (std::size_t f = 0; f < frames; ++f) out[f * n_channels + c] = src[f];
  }
}

// channels[c][f] = in[f * C + c] for f < frames; in must hold frames * C samples.
template <typename T>
void deinterleave(std::span<const T> in, std::size_t frames, std::span<T* const> channels) {
  const std::size_t n_channels = channels.size();
  for (std::size_t c = 0; c < n_channels; ++c) {
    T* dst = channels[c];
    for (std::size_t f = 0; f < frames; ++f) dst[f] = in[f * n_channels + c];
  }
}

// Frames the producer can write / the consumer can read, for a ring of interleaved frames.
template <typename T>
std::size_t frames_writable(const SpscRing<T>& ring, std::size_t channels) {
  return channels == 0 ? 0 : ring.write_available() / channels;
}
template <typename T>
std::size_t frames_readable(const SpscRing<T>& ring, std::size_t channels) {
  return channels == 0 ? 0 : ring.read_available() / channels;
}

namespace detail {
// Copies between planar channels and one contiguous run of interleaved ring storage; `frame`
// and `channel` say where in the planar buffers the run starts and are advanced past it (the
// second run of a wrapped region continues where the first stopped). ToRing picks the direction.
// Whole frames go in tight loops; only a frame split by the storage end goes sample by sample.
template <bool ToRing, typename T, typename Channels>
void copy_run(std::span<T> run, std::size_t& frame, std::size_t& channel, Channels& channels) {
  const std::size_t n_channels = channels.size();
  std::size_t i = 0;
  auto one = [&](std::size_t at) {
    if constexpr (ToRing) {
      run[at] = channels[channel][frame];
    } else {
      channels[channel][frame] = run[at];
    }
    if (++channel == n_channels) {
      channel = 0;
      ++frame;
    }
  };
  for (; channel != 0 && i < run.size(); ++i) one(i);  // the rest of a split frame
  const std::size_t whole = (run.size() - i) / n_channels;
  T* const out = run.data() + i;
  if (n_channels == 2) {  // stereo, the common case: one fused loop the compiler vectorises
    if constexpr (ToRing) {
      const auto* left = channels[0] + frame;
      const auto* right = channels[1] + frame;
      for (std::size_t f = 0; f < whole; ++f) {
        out[2 * f] = left[f];
        out[2 * f + 1] = right[f];
      }
    } else {
      auto* left = channels[0] + frame;
      auto* right = channels[1] + frame;
      for (std::size_t f = 0; f < whole; ++f) {
        left[f] = out[2 * f];
        right[f] = out[2 * f + 1];
      }
    }
  } else {
    for (std::size_t c = 0; c < n_channels; ++c) {
      T* base = out + c;
      if constexpr (ToRing) {
        const auto* src = channels[c] + frame;
        for (std::size_t f = 0; f < whole; ++f) base[f * n_channels] = src[f];
      } else {
        auto* dst = channels[c] + frame;
        for (std::size_t f = 0; f < whole; ++f) dst[f] = base[f * n_channels];
      }
    }
  }
  i += whole * n_channels;
  frame += whole;
  for (; i < run.size(); ++i) one(i);  // the start of a split frame
}
}  // namespace detail

// Producer: writes up to `frames` frames from planar buffers (one pointer per channel, each
// holding `frames` samples) into the ring, interleaved. Returns the number of frames written
// (fewer when the ring is nearly full; never a partial frame).
template <typename T>
std::size_t write_planar(SpscRing<T>& ring, std::span<const T* const> channels,
                         std::size_t frames) {
  const std::size_t n_channels = channels.size();
  if (n_channels == 0 || frames == 0) return 0;
  const RingRegions<T> space = ring.write_regions(frames * n_channels);
  const std::size_t n_frames = space.size() / n_channels;
  const RingRegions<T> used = space.prefix(n_frames * n_channels);
  std::size_t frame = 0, channel = 0;
  detail::copy_run<true>(used.first, frame, channel, channels);
  detail::copy_run<true>(used.second, frame, channel, channels);
  ring.commit_write(n_frames * n_channels);
  return n_frames;
}

// Consumer: reads up to `frames` interleaved frames out of the ring into planar buffers (one
// pointer per channel, each with room for `frames` samples). Returns the frames read.
template <typename T>
std::size_t read_planar(SpscRing<T>& ring, std::span<T* const> channels, std::size_t frames) {
  const std::size_t n_channels = channels.size();
  if (n_channels == 0 || frames == 0) return 0;
  const RingRegions<const T> data = ring.read_regions(frames * n_channels);
  const std::size_t n_frames = data.size() / n_channels;
  const RingRegions<const T> used = data.prefix(n_frames * n_channels);
  std::size_t frame = 0, channel = 0;
  detail::copy_run<false>(used.first, frame, channel, channels);
  detail::copy_run<false>(used.second, frame, channel, channels);
  ring.commit_read(n_frames * n_channels);
  return n_frames;
}

}  // namespace earshot::rt
